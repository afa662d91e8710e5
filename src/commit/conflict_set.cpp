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

bool is_empty_range(const ConflictSet::Read& r) {
  return !r.is_point && !r.end_is_infinite && cset::compare_keys(r.begin, r.end) >= 0;
}

bool covers_one_key(const ConflictSet::Read& r) {
  return r.is_point || (!r.end_is_infinite && is_single_key_range(r.begin, r.end));
}

}  // namespace

ConflictSet::ConflictSet(uint64_t oldest_version) : oldest_version_(oldest_version) {}

ConflictSet::Result ConflictSet::check_one(const Read& r) const {
  if (r.read_version < oldest_version_) return Result::kTooOld;
  if (tree_.max_version() <= r.read_version || is_empty_range(r)) return Result::kCommit;
  return conflicts_given(r, tree_.version_at(r.begin)) ? Result::kConflict : Result::kCommit;
}

// `version` is the version at read.begin.
bool ConflictSet::conflicts_given(const Read& r, uint64_t version) const {
  if (version > r.read_version) return true;
  if (covers_one_key(r)) return false;
  std::optional<std::string_view> end;
  if (!r.end_is_infinite) end = r.end;
  return tree_.any_above(r.begin, end, r.read_version);
}

// Reads go in groups: the versions at their first keys are looked up together, so the
// descents' cache misses overlap; range reads then look inside their range one by one.
void ConflictSet::check(std::span<const Read> reads, std::span<Result> results) const {
  WEASEL_ASSERT(results.size() >= reads.size());
  if (reads.size() == 1) {
    results[0] = check_one(reads[0]);
    return;
  }
  std::string_view keys[cset::kGroup];
  uint64_t versions[cset::kGroup];
  size_t which[cset::kGroup];
  for (size_t base = 0; base < reads.size(); base += cset::kGroup) {
    size_t stop = std::min(reads.size(), base + cset::kGroup);
    int n = 0;
    for (size_t i = base; i < stop; ++i) {
      const Read& r = reads[i];
      if (r.read_version < oldest_version_) {
        results[i] = Result::kTooOld;
      } else if (tree_.max_version() <= r.read_version || is_empty_range(r)) {
        results[i] = Result::kCommit;
      } else {
        keys[n] = r.begin;
        which[n++] = i;
      }
    }
    if (n == 1) {
      versions[0] = tree_.version_at(keys[0]);
    } else if (n > 1) {
      tree_.versions_at(keys, n, versions);
    }
    for (int j = 0; j < n; ++j) {
      bool conflict = conflicts_given(reads[which[j]], versions[j]);
      results[which[j]] = conflict ? Result::kConflict : Result::kCommit;
    }
  }
}

// Writes that come together get their leaves fetched together first (a hint: the writes then
// find them in cache); all of them set the same version, so their order does not matter.
void ConflictSet::add_writes(std::span<const Write> writes, uint64_t version) {
  WEASEL_ASSERT(version >= newest_version_);
  newest_version_ = version;
  if (version <= oldest_version_) return;
  if (writes.size() == 1) {
    apply_write(writes[0], version);
  } else {
    apply_grouped(writes, version);
  }
  uint64_t inserted = tree_.inserted_total();
  gc_debt_ += kGcEntriesPerInsert * static_cast<int64_t>(inserted - inserts_paid_);
  inserts_paid_ = inserted;
  collect_if_due();
}

void ConflictSet::apply_grouped(std::span<const Write> writes, uint64_t version) {
  size_t done = 0;
  while (done < writes.size()) {
    std::string_view keys[cset::kGroup];
    int n = 0;
    size_t stop = done;
    for (; stop < writes.size() && n + 2 <= cset::kGroup; ++stop) {
      keys[n++] = writes[stop].begin;
      if (!writes[stop].is_point && !writes[stop].end_is_infinite) keys[n++] = writes[stop].end;
    }
    if (n > 1) tree_.prefetch_leaves(keys, n);
    for (; done < stop; ++done) apply_write(writes[done], version);
  }
}

void ConflictSet::apply_write(const Write& w, uint64_t version) {
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
