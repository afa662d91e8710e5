// ConflictSet: read/write semantics and garbage-collection pacing over cset::ArtTree.

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
// Work is done in slices to amortize the descent to the collection cursor.
constexpr int64_t kGcSliceEntries = cset::ArtTree::kCollectSlice;

// [k, k + '\0') holds exactly the key k.
bool is_single_key_range(std::string_view begin, std::string_view end) {
  return end.size() == begin.size() + 1 && end.back() == '\0' && end.starts_with(begin);
}

bool is_empty_range(const ConflictSet::Read& r) {
  return !r.is_point && !r.end_is_infinite && cset::compare_keys(r.begin, r.end) >= 0;
}

template <class ReadOrWrite>
bool covers_one_key(const ReadOrWrite& r) {
  return r.is_point || (!r.end_is_infinite && is_single_key_range(r.begin, r.end));
}

// `version` is the version at read.begin in `tree`; the read is neither too old nor empty.
bool conflicts_given(const cset::ArtTree& tree, const ConflictSet::Read& r, uint64_t version) {
  if (version > r.read_version) return true;
  if (covers_one_key(r)) return false;
  std::optional<std::string_view> end;
  if (!r.end_is_infinite) end = r.end;
  return tree.any_above(r.begin, end, r.read_version);
}

// Whether a write in `tree` above the read's version covers a key of a read that is not too
// old.
bool conflicts_in(const cset::ArtTree& tree, const ConflictSet::Read& r) {
  if (tree.max_version() <= r.read_version || is_empty_range(r)) return false;
  return conflicts_given(tree, r, tree.version_at(r.begin));
}

void apply_write(cset::ArtTree& tree, const ConflictSet::Write& w, uint64_t version) {
  if (w.is_point) {
    tree.write_point(w.begin, version);
  } else if (w.end_is_infinite) {
    tree.write_range(w.begin, std::nullopt, version);
  } else if (is_single_key_range(w.begin, w.end)) {
    tree.write_point(w.begin, version);
  } else if (cset::compare_keys(w.begin, w.end) < 0) {
    tree.write_range(w.begin, w.end, version);
  }
}

// Keys a write's leaf prefetch asks for: its begin, and its end when it has one.
int keys_touched(const ConflictSet::Write& w) {
  return !w.is_point && !w.end_is_infinite ? 2 : 1;
}

int add_keys(const ConflictSet::Write& w, std::string_view* keys, int n) {
  keys[n++] = w.begin;
  if (keys_touched(w) == 2) keys[n++] = w.end;
  return n;
}

}  // namespace

ConflictSet::ConflictSet(uint64_t oldest_version) : oldest_version_(oldest_version) {
  tree_.set_floor(oldest_version);
  batch_.set_floor(oldest_version);
}

// Out of line: inlined into check()'s loop of point lookups, its range work would crowd
// that loop's registers.
[[gnu::noinline]] ConflictSet::Result ConflictSet::check_one(const Read& r) const {
  if (r.read_version < oldest_version_) return Result::kTooOld;
  return conflicts_in(tree_, r) ? Result::kConflict : Result::kCommit;
}

void ConflictSet::check(std::span<const Read> reads, std::span<Result> results) const {
  WEASEL_ASSERT(results.size() >= reads.size());
  if (reads.size() == 1 || !tree_.grouping_pays()) {
    // One read, or a tree in cache: nothing to overlap, so no grouping work either.
    for (size_t i = 0; i < reads.size(); ++i) {
      const Read& r = reads[i];
      if (r.is_point && r.read_version >= oldest_version_) {
        // The common case, without check_one's tests for ranges (version_at() is never above
        // max_version(), so that test is implied).
        bool conflict = tree_.version_at(r.begin) > r.read_version;
        results[i] = conflict ? Result::kConflict : Result::kCommit;
      } else {
        results[i] = check_one(r);
      }
    }
    return;
  }
  const Read* group[cset::kGroup];
  Result* out[cset::kGroup];
  for (size_t base = 0; base < reads.size(); base += cset::kGroup) {
    int n = static_cast<int>(std::min<size_t>(reads.size() - base, cset::kGroup));
    for (int i = 0; i < n; ++i) {
      group[i] = &reads[base + static_cast<size_t>(i)];
      out[i] = &results[base + static_cast<size_t>(i)];
    }
    check_group(group, out, n);
  }
}

// Up to kGroup reads go together: the versions at their first keys are looked up at once, so
// the descents' cache misses overlap; range reads then look inside their range one by one.
void ConflictSet::check_group(const Read* const* reads, Result* const* results, int n) const {
  WEASEL_ASSERT(n <= cset::kGroup);
  std::string_view keys[cset::kGroup];
  uint64_t versions[cset::kGroup];
  int which[cset::kGroup];
  int m = 0;
  for (int i = 0; i < n; ++i) {
    const Read& r = *reads[i];
    if (r.read_version < oldest_version_) {
      *results[i] = Result::kTooOld;
    } else if (tree_.max_version() <= r.read_version || is_empty_range(r)) {
      *results[i] = Result::kCommit;
    } else {
      keys[m] = r.begin;
      which[m++] = i;
    }
  }
  if (m == 1) {
    versions[0] = tree_.version_at(keys[0]);
  } else if (m > 1) {
    tree_.versions_at(keys, m, versions);
  }
  for (int j = 0; j < m; ++j) {
    bool conflict = conflicts_given(tree_, *reads[which[j]], versions[j]);
    *results[which[j]] = conflict ? Result::kConflict : Result::kCommit;
  }
}

// Writes that come together get their leaves fetched together first (a hint: the writes then
// find them in cache); all of them set the same version, so their order does not matter.
void ConflictSet::add_writes(std::span<const Write> writes, uint64_t version) {
  WEASEL_ASSERT(version >= newest_version_);
  newest_version_ = version;
  keep_within_span(version);
  if (version <= oldest_version_) return;
  if (writes.size() == 1 || !tree_.grouping_pays()) {
    // One write, or a tree in cache (nothing to overlap): each goes straight in, without
    // apply_grouped's key arrays.
    for (const Write& w : writes) apply_write(tree_, w, version);
  } else {
    apply_grouped(writes, version);
  }
  pay_for_inserts();
}

// The point writes of a group go first, in one grouped descent (write_points); the range
// writes then go one by one. All the writes set the same version, so doing some before
// others changes nothing: the result is `version` over the union of what they cover.
void ConflictSet::apply_grouped(std::span<const Write> writes, uint64_t version) {
  // Out of the loop: the arrays are zeroed once per call, not once per group.
  std::string_view points[cset::kGroup];
  uint64_t versions[cset::kGroup];
  std::string_view others[cset::kGroup];
  size_t done = 0;
  while (done < writes.size()) {
    int n_points = 0;
    int n_others = 0;
    size_t stop = done;
    // A group holds up to kGroup keys, so that kGroup point writes take one group.
    for (; stop < writes.size(); ++stop) {
      bool point = covers_one_key(writes[stop]);
      if (n_points + n_others + (point ? 1 : keys_touched(writes[stop])) > cset::kGroup) break;
      if (point) {
        versions[n_points] = version;
        points[n_points++] = writes[stop].begin;
      } else {
        n_others = add_keys(writes[stop], others, n_others);
      }
    }
    tree_.write_points(points, versions, n_points);
    if (n_others == 0) {
      done = stop;
      continue;
    }
    if (n_others > 1) tree_.prefetch_leaves(others, n_others);
    for (; done < stop; ++done) {
      if (!covers_one_key(writes[done])) apply_write(tree_, writes[done], version);
    }
  }
}

// Three passes. Every read against the history before the batch, in groups that span
// transactions (that is the speed-up); then, in order, each transaction's reads against the
// writes of the batch's earlier committed transactions, kept in batch_; then the writes of
// the committed ones into the history. A read's answer is the same as with check() and
// add_writes() one transaction at a time: the history those would see is the one before the
// batch plus exactly what batch_ holds (collection never changes an answer).
void ConflictSet::resolve(std::span<const Transaction> txns, std::span<Result> results,
                          std::span<bool> committed) {
  WEASEL_ASSERT(committed.size() >= txns.size());
  const Read* group[cset::kGroup];
  Result* out[cset::kGroup];
  int n = 0;
  size_t at = 0;
  for (const Transaction& t : txns) {
    for (const Read& r : t.reads) {
      WEASEL_ASSERT(at < results.size());
      group[n] = &r;
      out[n++] = &results[at++];
      if (n == cset::kGroup) {
        check_group(group, out, n);
        n = 0;
      }
    }
  }
  if (n > 0) check_group(group, out, n);
  resolve_in_batch(txns, results, committed);
  apply_committed(txns, committed);
}

void ConflictSet::resolve_in_batch(std::span<const Transaction> txns, std::span<Result> results,
                                   std::span<bool> committed) {
  WEASEL_ASSERT(batch_.entry_count() == 0 && batch_.max_version() == 0);
  size_t at = 0;
  for (size_t i = 0; i < txns.size(); ++i) {
    const Transaction& t = txns[i];
    WEASEL_ASSERT(t.version >= newest_version_);
    newest_version_ = t.version;
    bool ok = true;
    for (const Read& r : t.reads) {
      Result& result = results[at++];
      // An earlier transaction of the batch may have raised the oldest version (see
      // keep_within_span): the first pass judged this read against the one before.
      if (r.read_version < oldest_version_) {
        result = Result::kTooOld;
      } else if (result == Result::kCommit && conflicts_in(batch_, r)) {
        result = Result::kConflict;
      }
      ok = ok && result == Result::kCommit;
    }
    committed[i] = ok;
    if (ok) keep_within_span(t.version);  // as add_writes() would
    // Like add_writes: a write at or below the oldest version can never conflict.
    if (!ok || t.version <= oldest_version_) continue;
    for (const Write& w : t.writes) apply_write(batch_, w, t.version);
  }
}

// Consecutive committed transactions with only point writes share grouped descents
// (write_points, one version per key, in order); a transaction with a range write goes alone
// (apply_grouped), so that no write ever overtakes an older one.
void ConflictSet::apply_committed(std::span<const Transaction> txns,
                                  std::span<const bool> committed) {
  auto applies = [&](size_t i) { return committed[i] && txns[i].version > oldest_version_; };
  auto points_only = [&](size_t i) {
    return std::all_of(txns[i].writes.begin(), txns[i].writes.end(),
                       [](const Write& w) { return covers_one_key(w); });
  };
  size_t i = 0;
  while (i < txns.size()) {
    if (!applies(i)) {
      ++i;
      continue;
    }
    if (!points_only(i) || txns[i].writes.size() > cset::kGroup) {
      apply_grouped(txns[i].writes, txns[i].version);
      ++i;
      continue;
    }
    std::string_view keys[cset::kGroup];
    uint64_t versions[cset::kGroup];
    int n = 0;
    size_t stop = i;
    for (; stop < txns.size(); ++stop) {
      if (!applies(stop)) continue;
      if (!points_only(stop) || n + txns[stop].writes.size() > cset::kGroup) break;
      for (const Write& w : txns[stop].writes) {
        keys[n] = w.begin;
        versions[n++] = txns[stop].version;
      }
    }
    tree_.write_points(keys, versions, n);
    i = stop;
  }
  pay_for_inserts();
  batch_.clear();
}

void ConflictSet::pay_for_inserts() {
  uint64_t inserted = tree_.inserted_total();
  gc_debt_ += kGcEntriesPerInsert * static_cast<int64_t>(inserted - inserts_paid_);
  inserts_paid_ = inserted;
  collect_if_due();
}

void ConflictSet::keep_within_span(uint64_t version) {
  if (version > oldest_version_ && version - oldest_version_ > kMaxVersionSpan) [[unlikely]] {
    set_oldest_version(version - kMaxVersionSpan);
  }
}

void ConflictSet::set_oldest_version(uint64_t v) {
  if (v <= oldest_version_) return;
  oldest_version_ = v;
  tree_.set_floor(v);
  batch_.set_floor(v);
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
  return sizeof(*this) - sizeof(tree_) - sizeof(batch_) + tree_.memory_bytes() +
         batch_.memory_bytes();
}

}  // namespace weasel
