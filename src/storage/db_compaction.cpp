// DBImpl: choosing and running compactions (leveled, with a tiered L0).

#include <algorithm>
#include <cmath>

#include "storage/db_impl.hpp"

namespace weaseldb::storage {

namespace {

struct UserRange {
  std::string smallest;
  std::string largest;  // inclusive (a tombstone sentinel end is included: conservative)
};

UserRange user_range(const TableMeta& meta) {
  return {std::string(extract_user_key(meta.smallest)),
          std::string(extract_user_key(meta.largest))};
}

bool overlaps(const UserRange& r, const std::optional<std::string>& lo,
              const std::optional<std::string>& hi) {
  return (!lo || r.largest >= *lo) && (!hi || r.smallest <= *hi);
}

uint64_t level_bytes(const std::vector<LiveTable>& level) {
  uint64_t total = 0;
  for (const LiveTable& t : level) total += t.meta.bytes;
  return total;
}

void sort_level(std::vector<LiveTable>* level) {
  std::sort(level->begin(), level->end(), [](const LiveTable& a, const LiveTable& b) {
    return compare_internal_keys(a.meta.smallest, b.meta.smallest) < 0;
  });
  for (size_t i = 1; i < level->size(); ++i) {
    WEASEL_ASSERT(compare_internal_keys((*level)[i - 1].meta.largest, (*level)[i].meta.smallest) <
                  0);
  }
}

}  // namespace

bool DBImpl::compaction_wanted() const { return manual_ != nullptr || level_to_compact(); }

std::optional<size_t> DBImpl::level_to_compact() const {
  std::optional<size_t> best;
  double best_score = 1.0;
  double target = static_cast<double>(options_.level1_bytes);
  for (size_t level = 0; level + 1 < levels_.size(); ++level) {
    double score = level == 0
                       ? static_cast<double>(levels_[0].size()) / options_.l0_compaction_trigger
                       : static_cast<double>(level_bytes(levels_[level])) / target;
    if (level > 0) target *= options_.level_size_multiplier;
    if (score >= best_score) {
      best_score = score;
      best = level;
    }
  }
  return best;
}

// mu_ is held on entry and exit and released for the I/O.
Status DBImpl::compact(std::unique_lock<std::mutex>& lock) {
  if (ManualCompaction* manual = manual_) {
    // One level per call, top down, so flushes can run in between.
    while (manual->level + 1 < levels_.size()) {
      size_t level = manual->level++;
      std::vector<LiveTable> inputs;
      for (const LiveTable& t : levels_[level]) {
        // L0 files overlap each other: all of them go, whatever the range.
        if (level == 0 || overlaps(user_range(t.meta), manual->begin, manual->end)) {
          inputs.push_back(t);
        }
      }
      if (inputs.empty()) continue;
      Status s = compact_into_next(lock, level, std::move(inputs));
      if (!s.ok()) {
        manual->status = s;
        manual->done = true;
        manual_ = nullptr;
        return s;
      }
      return {};
    }
    manual->done = true;
    manual_ = nullptr;
    return {};
  }
  std::optional<size_t> level = level_to_compact();
  if (!level) return {};
  if (*level == 0) return compact_into_next(lock, 0, levels_[0]);
  // Round robin over the level's key space: the first file past the last one compacted.
  const std::vector<LiveTable>& files = levels_[*level];
  std::string& pointer = compact_pointer_[*level];
  auto next = std::find_if(files.begin(), files.end(), [&](const LiveTable& t) {
    return pointer.empty() || compare_internal_keys(t.meta.smallest, pointer) > 0;
  });
  if (next == files.end()) next = files.begin();
  pointer = next->meta.largest;
  return compact_into_next(lock, *level, {*next});
}

Status DBImpl::compact_into_next(std::unique_lock<std::mutex>& lock, size_t level,
                                 std::vector<LiveTable> inputs) {
  WEASEL_ASSERT(level + 1 < levels_.size() && !inputs.empty());
  size_t out = level + 1;
  // The next level's files overlapping the inputs' user-key span. Being one interval, it
  // leaves every other file of that level entirely before or after the outputs.
  std::optional<std::string> lo, hi;
  for (const LiveTable& t : inputs) {
    UserRange r = user_range(t.meta);
    if (!lo || r.smallest < *lo) lo = r.smallest;
    if (!hi || r.largest > *hi) hi = r.largest;
  }
  std::vector<LiveTable> next_inputs, next_kept;
  for (const LiveTable& t : levels_[out]) {
    (overlaps(user_range(t.meta), lo, hi) ? next_inputs : next_kept).push_back(t);
  }
  // The levels below the output, as they are now (only this thread changes them).
  std::vector<std::vector<UserRange>> below;
  for (size_t l = out + 1; l < levels_.size(); ++l) {
    below.emplace_back();
    for (const LiveTable& t : levels_[l]) below.back().push_back(user_range(t.meta));
  }
  DeeperOverlap deeper = [below](std::string_view a, std::string_view b) {
    for (const std::vector<UserRange>& files : below) {
      // Sorted and disjoint: the first file ending at or after a decides.
      auto f = std::partition_point(files.begin(), files.end(),
                                    [&](const UserRange& r) { return r.largest < a; });
      if (f != files.end() && f->smallest <= b) return true;
    }
    return false;
  };

  SequenceNumber smallest_snapshot = history_floor_locked();
  // Recorded (and persisted with the result) before any history below it can disappear.
  compaction_floor_ = std::max(compaction_floor_, smallest_snapshot);
  std::vector<std::shared_ptr<const Table>> tables;
  for (const LiveTable& t : inputs) tables.push_back(t.table);
  for (const LiveTable& t : next_inputs) tables.push_back(t.table);
  uint64_t input_bytes = 0;
  for (const LiveTable& t : inputs) input_bytes += t.meta.bytes;
  for (const LiveTable& t : next_inputs) input_bytes += t.meta.bytes;
  lock.unlock();
  CompactionStats stats;
  TableSink sink = table_sink();
  sink.limiter = limiter_.get();
  sink.flush_pending = &flush_pending_;
  // A flush in the middle adds an L0 file and writes a manifest listing the inputs, which
  // are still live; the install below keeps the new file (it removes inputs by number).
  // After a background error (a failed WAL write) the DB is stopped: no flush, and the
  // compaction stops too, as background_loop() would not start either.
  sink.flush_between = [this, &lock] {
    lock.lock();
    Status s = background_error_;
    if (s.ok() && !immutables_.empty()) s = flush_oldest(lock);
    progress_cv_.notify_all();
    lock.unlock();
    return s;
  };
  Result<std::vector<LiveTable>> outputs =
      compact_tables(sink, tables, smallest_snapshot, options_.target_file_bytes,
                     below.empty() ? DeeperOverlap() : deeper, &stats);
  lock.lock();
  if (!outputs.ok()) return outputs.status();
  counters_.compaction_bytes_written.fetch_add(stats.bytes_written, std::memory_order_relaxed);
  counters_.compaction_input_bytes.fetch_add(input_bytes, std::memory_order_relaxed);
  counters_.compaction_entries_dropped.fetch_add(stats.dropped_entries, std::memory_order_relaxed);

  std::vector<std::vector<LiveTable>> levels = levels_;
  auto is_input = [&](const LiveTable& t) {
    return std::any_of(inputs.begin(), inputs.end(),
                       [&](const LiveTable& i) { return i.meta.number == t.meta.number; });
  };
  // Flushes add L0 files only on this thread, between compactions or in the middle of this
  // one (flush_between): the inputs are all still there.
  levels[level].erase(std::remove_if(levels[level].begin(), levels[level].end(), is_input),
                      levels[level].end());
  levels[out] = std::move(next_kept);
  for (LiveTable& t : outputs.value()) {
    t.meta.level = static_cast<uint32_t>(out);
    levels[out].push_back(std::move(t));
  }
  sort_level(&levels[out]);
  Status s = install_levels(lock, std::move(levels));
  if (!s.ok()) {
    // The outputs stay: the failed manifest write may have put a manifest listing them in
    // place. The next open removes whichever files its manifest does not list.
    return s;
  }
  counters_.compactions.fetch_add(1, std::memory_order_relaxed);
  // Deleted when the last reader lets go (Table::mark_obsolete()).
  for (const LiveTable& t : inputs) t.table->mark_obsolete();
  for (const LiveTable& t : next_inputs) t.table->mark_obsolete();
  return {};
}

// Makes `levels` current: manifest first (unlocked), then the in-memory state.
Status DBImpl::install_levels(std::unique_lock<std::mutex>& lock,
                              std::vector<std::vector<LiveTable>> levels) {
  std::swap(levels, levels_);
  ManifestState state = manifest_state();
  lock.unlock();
  Status s = write_manifest(*fs_, path_, state, cipher_.get());
  lock.lock();
  if (!s.ok()) {
    levels_ = std::move(levels);
    install_read_state();  // a memtable seal may have published the new set meanwhile
    return s;
  }
  install_read_state();
  return {};
}

}  // namespace weaseldb::storage
