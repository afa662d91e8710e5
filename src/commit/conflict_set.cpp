// ConflictSet: read/write semantics and garbage-collection pacing over cset::VersionTree.

#include "commit/conflict_set.hpp"

#include <algorithm>
#include <optional>

namespace weasel {
namespace {

// Collection examines two entries per inserted one: a full sweep then always outpaces growth,
// which bounds the stored entries to about twice the live window.
constexpr int64_t kGcEntriesPerInsert = 2;
// Each advance of the oldest version adds this much work, so memory is given back even
// when no writes arrive.
constexpr int64_t kGcEntriesPerAdvance = 16;
// Work is done in slices of a few leaves to amortize the descent to the collection cursor.
constexpr int64_t kGcSliceEntries = 2 * cset::kLeafCapacity;

// [k, k + '\0') holds exactly the key k.
bool is_single_key_range(std::string_view begin, std::string_view end) {
  return end.size() == begin.size() + 1 && end.back() == '\0' && end.starts_with(begin);
}

}  // namespace

ConflictSet::ConflictSet(uint64_t oldest_version) : oldest_version_(oldest_version) {}

void ConflictSet::check(std::span<const Read> reads, std::span<Result> results) const {
  WEASEL_ASSERT(results.size() >= reads.size());
  for (size_t i = 0; i < reads.size(); ++i) {
    const Read& read = reads[i];
    if (read.read_version < oldest_version_) {
      results[i] = Result::kTooOld;
    } else {
      results[i] = conflicts(read) ? Result::kConflict : Result::kCommit;
    }
  }
}

bool ConflictSet::conflicts(const Read& read) const {
  uint64_t v = read.read_version;
  if (tree_.max_version() <= v) return false;
  if (read.is_point) return tree_.version_at(read.begin) > v;
  std::optional<std::string_view> end;
  if (!read.end_is_infinite) {
    if (cset::compare_keys(read.begin, read.end) >= 0) return false;
    if (is_single_key_range(read.begin, read.end)) return tree_.version_at(read.begin) > v;
    end = read.end;
  }
  return tree_.version_at(read.begin) > v || tree_.any_above(read.begin, end, v);
}

void ConflictSet::add_writes(std::span<const Write> writes, uint64_t version) {
  WEASEL_ASSERT(version >= newest_version_);
  newest_version_ = version;
  if (version <= oldest_version_) return;
  for (const Write& w : writes) {
    if (w.is_point) {
      tree_.write_point(w.begin, version);
    } else if (w.end_is_infinite) {
      tree_.write_range(w.begin, std::nullopt, version);
    } else if (is_single_key_range(w.begin, w.end)) {
      tree_.write_point(w.begin, version);
    } else if (cset::compare_keys(w.begin, w.end) < 0) {
      tree_.write_range(w.begin, w.end, version);
    }
  }
  uint64_t inserted = tree_.inserted_total();
  gc_debt_ += kGcEntriesPerInsert * static_cast<int64_t>(inserted - inserts_paid_);
  inserts_paid_ = inserted;
  collect_if_due();
}

void ConflictSet::set_oldest_version(uint64_t v) {
  if (v <= oldest_version_) return;
  oldest_version_ = v;
  gc_debt_ += kGcEntriesPerAdvance;
  collect_if_due();
}

void ConflictSet::collect_if_due() {
  if (gc_debt_ < kGcSliceEntries) return;
  size_t examined = tree_.collect(oldest_version_, static_cast<size_t>(gc_debt_));
  // An empty tree has nothing to examine: forget the debt rather than carry it forever.
  gc_debt_ = examined == 0 ? 0 : gc_debt_ - static_cast<int64_t>(examined);
  // Bounded credit, so a burst of collection cannot excuse an unbounded later growth.
  gc_debt_ = std::max<int64_t>(gc_debt_, -kGcSliceEntries);
}

size_t ConflictSet::memory_bytes() const {
  return sizeof(*this) - sizeof(tree_) + tree_.memory_bytes();
}

}  // namespace weasel
