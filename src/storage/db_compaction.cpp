// DBImpl: compaction of L0 (tiered: all of it at once) into L1, the sorted bottom run.

#include <algorithm>

#include "storage/db_impl.hpp"

namespace weaseldb::storage {

namespace {

struct UserRange {
  std::string smallest;
  std::string largest;  // inclusive (a tombstone sentinel end is included: conservative)
};

UserRange user_range(const TableMeta& meta) {
  return {std::string(extract_user_key(meta.smallest)), std::string(extract_user_key(meta.largest))};
}

}  // namespace

// mu_ is held on entry and exit and released for the I/O.
Status DBImpl::compact(std::unique_lock<std::mutex>& lock) {
  ManualCompaction* manual = manual_;
  auto finish_manual = [&](const Status& s) {
    if (manual != nullptr) {
      manual->status = s;
      manual->done = true;
      manual_ = nullptr;
    }
    return s;
  };
  // Inputs: every L0 file, and the L1 files overlapping one interval: the hull of L0's
  // user-key span and the manual request's range. One interval keeps the L1 files left out
  // entirely before or after the outputs, so L1 stays disjoint.
  std::optional<std::string> lo, hi;  // [lo, hi] inclusive; unset: unbounded on that side
  bool bounded_lo = true, bounded_hi = true, any = false;
  auto widen = [&](const std::optional<std::string>& b, const std::optional<std::string>& e) {
    if (!b) bounded_lo = false;
    if (!e) bounded_hi = false;
    if (b && (!lo || *b < *lo)) lo = b;
    if (e && (!hi || *e > *hi)) hi = e;
    any = true;
  };
  for (const LiveTable& t : level0_) {
    UserRange r = user_range(t.meta);
    widen(r.smallest, r.largest);
  }
  if (manual != nullptr) widen(manual->begin, manual->end);  // end exclusive: wider is fine
  std::optional<std::string> range_lo = bounded_lo ? lo : std::nullopt;
  std::optional<std::string> range_hi = bounded_hi ? hi : std::nullopt;
  std::vector<LiveTable> inputs0 = level0_;
  std::vector<LiveTable> inputs1;
  std::vector<LiveTable> kept1;
  for (const LiveTable& t : level1_) {
    UserRange r = user_range(t.meta);
    bool overlapping = any && (!range_lo || r.largest >= *range_lo) &&
                       (!range_hi || r.smallest <= *range_hi);
    (overlapping ? inputs1 : kept1).push_back(t);
  }
  if (inputs0.empty() && inputs1.empty()) return finish_manual({});

  SequenceNumber smallest_snapshot = history_floor_locked();
  // Recorded (and persisted with the result) before any history below it can disappear.
  compaction_floor_ = std::max(compaction_floor_, smallest_snapshot);
  std::vector<std::shared_ptr<const Table>> tables;
  for (const LiveTable& t : inputs0) tables.push_back(t.table);
  for (const LiveTable& t : inputs1) tables.push_back(t.table);
  lock.unlock();
  CompactionStats stats;
  Result<std::vector<LiveTable>> outputs =
      compact_tables(table_sink(), tables, smallest_snapshot, options_.target_file_bytes, &stats);
  lock.lock();
  if (!outputs.ok()) return finish_manual(outputs.status());
  counters_.table_bytes_written.fetch_add(stats.bytes_written, std::memory_order_relaxed);

  // Flushes never run concurrently with this (same thread): L0 is still what we took.
  WEASEL_ASSERT(level0_.size() == inputs0.size());
  std::vector<LiveTable> level1 = std::move(kept1);
  for (LiveTable& t : outputs.value()) {
    t.meta.level = 1;
    level1.push_back(std::move(t));
  }
  std::sort(level1.begin(), level1.end(), [](const LiveTable& a, const LiveTable& b) {
    return compare_internal_keys(a.meta.smallest, b.meta.smallest) < 0;
  });
  for (size_t i = 1; i < level1.size(); ++i) {
    WEASEL_ASSERT(compare_internal_keys(level1[i - 1].meta.largest, level1[i].meta.smallest) < 0);
  }
  Status s = install_tables(lock, {}, std::move(level1));
  if (!s.ok()) {
    for (const LiveTable& t : outputs.value()) (void)remove_file(table_path(path_, t.meta.number));
    return finish_manual(s);
  }
  counters_.compactions.fetch_add(1, std::memory_order_relaxed);
  // Open iterators keep reading the inputs through their open descriptors.
  for (const LiveTable& t : inputs0) (void)remove_file(table_path(path_, t.meta.number));
  for (const LiveTable& t : inputs1) (void)remove_file(table_path(path_, t.meta.number));
  return finish_manual({});
}

// Makes the given levels current: manifest first (unlocked), then the in-memory state.
Status DBImpl::install_tables(std::unique_lock<std::mutex>& lock, std::vector<LiveTable> level0,
                              std::vector<LiveTable> level1) {
  std::swap(level0, level0_);
  std::swap(level1, level1_);
  ManifestState state = manifest_state();
  lock.unlock();
  Status s = write_manifest(path_, state);
  lock.lock();
  if (!s.ok()) {
    level0_ = std::move(level0);
    level1_ = std::move(level1);
    install_read_state();  // a memtable seal may have published the new set meanwhile
    return s;
  }
  install_read_state();
  return {};
}

}  // namespace weaseldb::storage
