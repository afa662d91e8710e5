// DBImpl: the write path (group commit), memtable sealing and background flushes.

#include <algorithm>
#include <chrono>

#include "storage/db_impl.hpp"

namespace weaseldb::storage {

struct DBImpl::Writer {
  const WriteBatch* batch = nullptr;  // null: a flush() request, which seals the memtable
  Durability durability = Durability::kGroupSync;
  std::optional<SequenceNumber> sequence;
  SequenceNumber assigned = 0;
  bool done = false;
  Status status;
  std::condition_variable cv;
};

namespace {

constexpr size_t kMaxGroupBytes = size_t{1} << 20;

// A scratch batch per thread for single-key writes, so that put() and del() allocate
// nothing once warm; one that grew past kMaxGroupBytes is let go rather than kept.
WriteBatch& scratch_batch() {
  thread_local WriteBatch batch;
  if (batch.byte_size() > kMaxGroupBytes) batch = WriteBatch();
  batch.clear();
  return batch;
}

}  // namespace

Status DBImpl::put(const WriteOptions& options, std::string_view key, std::string_view value) {
  Status s = BatchApplier::validate_point(key, value);
  if (!s.ok()) return s;
  WriteBatch& batch = scratch_batch();
  batch.put(key, value);
  return write_validated(options, batch);
}

Status DBImpl::del(const WriteOptions& options, std::string_view key) {
  Status s = BatchApplier::validate_point(key, {});
  if (!s.ok()) return s;
  WriteBatch& batch = scratch_batch();
  batch.del(key);
  return write_validated(options, batch);
}

Status DBImpl::delete_range(const WriteOptions& options, std::string_view begin,
                            std::string_view end) {
  WriteBatch batch;
  batch.delete_range(begin, end);
  return write(options, batch);
}

Status DBImpl::write(const WriteOptions& options, const WriteBatch& batch) {
  Status s = BatchApplier::validate(batch);
  if (!s.ok()) return s;
  return write_validated(options, batch);
}

Status DBImpl::write_validated(const WriteOptions& options, const WriteBatch& batch) {
  if (options.sequence && *options.sequence > kMaxSequenceNumber) {
    return Status::invalid_argument("sequence " + std::to_string(*options.sequence) +
                                    " is above the maximum");
  }
  Durability durability = options.durability.value_or(options_.durability);
  std::unique_lock lock(mu_);
  if (closing_) return Status::invalid_argument(path_ + ": the database is closed");
  if (writers_.empty() && !solo_writing_) {
    return write_solo(lock, batch, durability, options.sequence);
  }
  Writer w;
  w.batch = &batch;
  w.durability = durability;
  w.sequence = options.sequence;
  writers_.push_back(&w);
  w.cv.wait(lock, [&] { return w.done || (writers_.front() == &w && !solo_writing_); });
  if (w.done) return w.status;

  // The leader: take a group from the front of the queue, log it, apply it, publish it.
  Status s = make_room(lock, false);
  bool sync = form_group(s);
  if (s.ok()) {
    // Unlocked: only a leader touches the WAL writer and inserts into mem_.
    lock.unlock();
    s = log_and_apply(sync);
    lock.lock();
    publish(s, group_sequence_);
  }
  for (Writer* g : group_) {
    if (g->status.ok()) g->status = s;
    WEASEL_ASSERT(writers_.front() == g);
    writers_.pop_front();
    g->done = true;
    if (g != &w) g->cv.notify_one();
  }
  hand_over_leadership();
  return w.status;
}

// With mu_ held, by a leader done with its turn: the next queued writer leads, or close()
// learns that no writer is left.
void DBImpl::hand_over_leadership() {
  if (writers_.empty()) {
    progress_cv_.notify_all();
  } else {
    writers_.front()->cv.notify_one();
  }
}

// The lone writer's turn (db_bench's single thread, or any writer that finds no one ahead):
// what a group of one does, without queueing itself, waiting on a condition variable or
// walking the queue. Writers arriving meanwhile queue behind it (solo_writing_), so the group
// commit, the order of sequences and the sync modes are those of the queued path.
Status DBImpl::write_solo(std::unique_lock<std::mutex>& lock, const WriteBatch& batch,
                          Durability durability, std::optional<SequenceNumber> requested) {
  WEASEL_ASSERT(writers_.empty() && !solo_writing_);
  solo_writing_ = true;
  Status s = make_room(lock, false);  // may wait, unlocked: arrivals queue behind us
  SequenceNumber sequence = last_sequence_.load(std::memory_order_relaxed);
  if (s.ok()) s = next_sequence(requested, &sequence);
  if (s.ok()) {
    lock.unlock();
    uint64_t logged = 0;
    s = log_batch(batch, sequence, &logged);
    if (s.ok()) s = end_log(durability != Durability::kNone, logged);
    if (s.ok()) applier_.apply(batch, sequence, mem_.get());
    lock.lock();
    publish(s, sequence);
  }
  solo_writing_ = false;
  hand_over_leadership();
  return s;
}

// The sequence a write gets after *sequence (the last one stamped), there on success:
// `requested` if it moves forward, else the next one.
Status DBImpl::next_sequence(std::optional<SequenceNumber> requested,
                             SequenceNumber* sequence) const {
  SequenceNumber last = *sequence;
  if (requested && *requested <= last) {
    return Status::invalid_argument("sequence " + std::to_string(*requested) +
                                    " does not follow the last one, " + std::to_string(last));
  }
  SequenceNumber next = requested.value_or(last + 1);
  if (next > kMaxSequenceNumber) return Status::resource_exhausted("sequence numbers are exhausted");
  *sequence = next;
  return {};
}

// With mu_ held, by the leader: the writers from the front of the queue that go into one WAL
// write, each stamped with its sequence (or refused on its own). Returns whether the group
// needs an fdatasync. After a failed make_room (`room`), it only collects the writers.
bool DBImpl::form_group(const Status& room) {
  group_.clear();
  size_t group_bytes = 0;
  bool sync = false;
  SequenceNumber sequence = last_sequence_.load(std::memory_order_relaxed);
  for (Writer* next : writers_) {
    if (next->batch == nullptr) break;  // a flush request leads its own turn
    bool alone = next->durability == Durability::kSyncEachWrite;
    if (!group_.empty() && (alone || group_bytes + next->batch->byte_size() > kMaxGroupBytes ||
                            group_.front()->durability == Durability::kSyncEachWrite)) {
      break;
    }
    group_.push_back(next);
    group_bytes += next->batch->byte_size();
    if (!room.ok()) continue;
    next->status = next_sequence(next->sequence, &sequence);
    if (!next->status.ok()) continue;
    next->assigned = sequence;
    sync = sync || next->durability != Durability::kNone;
  }
  group_sequence_ = sequence;
  return sync;
}

// Without mu_, by the leader: appends the group's batches to the WAL (one flush or sync) and
// inserts them into the memtable.
Status DBImpl::log_and_apply(bool sync) {
  Status s;
  uint64_t logged = 0;
  for (Writer* g : group_) {
    if (!g->status.ok()) continue;
    s = log_batch(*g->batch, g->assigned, &logged);
    if (!s.ok()) return s;
  }
  s = end_log(sync, logged);
  if (!s.ok()) return s;
  for (Writer* g : group_) {
    if (g->status.ok()) applier_.apply(*g->batch, g->assigned, mem_.get());
  }
  return {};
}

// Without mu_, by the leader: ends a turn's WAL appends (`logged` bytes) with one fdatasync
// when `sync`, else a flush, and counts them.
Status DBImpl::end_log(bool sync, uint64_t logged) {
  Status s = sync ? wal_->sync() : wal_->flush();
  counters_.wal_bytes_written.fetch_add(logged, std::memory_order_relaxed);
  if (sync) counters_.wal_syncs.fetch_add(1, std::memory_order_relaxed);
  return s;
}

// With mu_ held, by the leader after a turn that reached the WAL: readers see its writes up to
// `last`, or, when it failed, no write may follow (the WAL's tail is unknown).
void DBImpl::publish(const Status& s, SequenceNumber last) {
  if (s.ok()) {
    last_sequence_.store(last, std::memory_order_release);
  } else if (background_error_.ok()) {
    background_error_ = s;
  }
}

// Without mu_, by the leader: appends one batch stamped with `sequence` to the WAL (not
// flushed), adding its bytes to *logged.
Status DBImpl::log_batch(const WriteBatch& batch, SequenceNumber sequence, uint64_t* logged) {
  if (cipher_ == nullptr) {
    // The kind byte and the stamped sequence, then the rest of the batch: the WAL writer
    // copies both straight into the file's mapping.
    char head[1 + 8];
    head[0] = static_cast<char>(kWalPlain);
    put_fixed64(head + 1, sequence);
    std::string_view rest = batch.rep().substr(sizeof(uint64_t));  // after the sequence
    *logged += sizeof(head) + rest.size();
    return wal_->add_record({head, sizeof(head)}, rest);
  }
  record_.assign(batch.rep());
  put_fixed64(record_.data(), sequence);
  std::string_view encoded = encode_wal_record(record_, wal_number_);
  *logged += encoded.size();
  return wal_->add_record(encoded);
}

// Called by a leader with mu_ held: seals a full memtable (or any non-empty one when forced),
// waiting while too many sealed memtables await their flush or L0 is at its stop trigger, and
// once, briefly, when L0 is past its slowdown trigger.
Status DBImpl::make_room(std::unique_lock<std::mutex>& lock, bool force) {
  bool delayed = false;
  while (true) {
    if (!background_error_.ok()) return background_error_;
    bool empty = mem_->entry_count() + mem_->range_tombstone_count() == 0;
    size_t l0 = levels_[0].size();
    bool l0_full = l0 >= options_.l0_stop_writes_trigger;
    // Below the compaction trigger no compaction would end a slowdown: it starts there at the
    // earliest.
    bool l0_slow = l0 >= std::max(options_.l0_slowdown_writes_trigger,
                                  options_.l0_compaction_trigger);
    if (!l0_full && !delayed && !force && l0_slow) {
      // Spreads the wait over many writes instead of one long stop later; a finished
      // compaction ends it early.
      delayed = true;
      counters_.slowdowns.fetch_add(1, std::memory_order_relaxed);
      stall(lock, std::chrono::microseconds(1000));
      continue;
    }
    if (!l0_full) {
      if (force ? empty : mem_->memory_bytes() < options_.memtable_bytes) return {};
      if (immutables_.size() < options_.max_immutable_memtables) return seal_memtable(lock);
    }
    // Stopped: too many sealed memtables, or L0 too deep for reads to stay fast.
    counters_.stalls.fetch_add(1, std::memory_order_relaxed);
    stall(lock, std::nullopt);
  }
}

void DBImpl::stall(std::unique_lock<std::mutex>& lock,
                   std::optional<std::chrono::microseconds> timeout) {
  background_cv_.notify_one();
  auto start = std::chrono::steady_clock::now();
  if (timeout) {
    progress_cv_.wait_for(lock, *timeout);
  } else {
    progress_cv_.wait(lock);
  }
  auto waited = std::chrono::steady_clock::now() - start;
  counters_.stall_micros.fetch_add(
      std::chrono::duration_cast<std::chrono::microseconds>(waited).count(),
      std::memory_order_relaxed);
}

// With mu_ held, by a leader (nobody writes the WAL meanwhile). The sealed memtable goes to
// the flush before its WAL is synced, not after: that sync (~60 ms for a 64 MiB memtable's
// WAL on the benchmark disk) used to run with mu_ held, so the flush could only start once the
// writer was filling the next memtable again, and the two memtables' peak grew by whatever the
// writer added during the sync (bench/README.md). The manifest that retires the sealed WAL
// waits for wal_sealing_ to clear (flush_oldest), so that WAL is closed before it is deleted.
Status DBImpl::seal_memtable(std::unique_lock<std::mutex>& lock) {
  immutables_.push_back({mem_, wal_number_, last_sequence_.load(std::memory_order_relaxed)});
  flush_pending_.store(true, std::memory_order_relaxed);
  mem_ = std::make_shared<MemTable>();
  ++sealed_count_;
  install_read_state();
  uint64_t number = next_file_number_++;
  wal_sealing_ = true;
  background_cv_.notify_one();
  lock.unlock();
  // The sealed WAL is synced before the next one exists, so that replay can tell a torn tail
  // (newest WAL only) from corruption (any older one).
  Status s = wal_->sync();
  std::unique_ptr<WritableFile> old_file = std::move(wal_file_);
  if (s.ok()) s = old_file->close();
  if (s.ok()) s = start_wal(number);
  lock.lock();
  wal_sealing_ = false;
  progress_cv_.notify_all();
  if (!s.ok()) {
    // The writer may point at the file just closed: nothing may use it again.
    wal_.reset();
    wal_file_.reset();
    background_error_ = s;
    return s;
  }
  wal_number_ = number;
  return {};
}

void DBImpl::install_read_state() {
  auto state = std::make_shared<ReadState>();
  state->mem = mem_;
  for (auto it = immutables_.rbegin(); it != immutables_.rend(); ++it) {
    state->immutables.push_back(it->mem);
  }
  for (const LiveTable& t : levels_[0]) state->level0.push_back(t.table);
  for (size_t level = 1; level < levels_.size(); ++level) {
    if (!levels_[level].empty()) state->deeper.push_back(levels_[level]);
  }
  read_state_ = std::move(state);
}

ManifestState DBImpl::manifest_state() const {
  ManifestState state;
  state.next_file_number = next_file_number_;
  state.last_sequence = flushed_sequence_;
  state.log_number = log_number_;
  state.compaction_floor = compaction_floor_;
  for (size_t level = 0; level < levels_.size(); ++level) {
    for (const LiveTable& t : levels_[level]) {
      state.tables.push_back(t.meta);
      state.tables.back().level = static_cast<uint32_t>(level);
    }
  }
  return state;
}

void DBImpl::background_loop() {
  std::unique_lock lock(mu_);
  while (true) {
    background_cv_.wait(lock, [&] {
      return closed_ || (background_error_.ok() && (!immutables_.empty() ||
                                                    (compaction_allowed() && compaction_wanted())));
    });
    if (closed_) return;
    // Flushes first: they free writers; compaction runs between them.
    Status s = !immutables_.empty() ? flush_oldest(lock) : compact(lock);
    if (!s.ok() && background_error_.ok()) background_error_ = s;
    progress_cv_.notify_all();
  }
}

// Writes the oldest sealed memtable to an L0 table and records it; mu_ is held on entry and
// exit, released for the I/O. Only this thread changes the table set and the manifest after
// open.
//
// The table replaces the memtable for readers as soon as its bytes are written, before its
// sync and the manifest write (15-30 ms on the benchmark disk): the memtable's memory goes
// back to the system that much sooner, while writers keep filling the next one, which lowers
// the peak memory (bench/README.md). Durability does not change: the memtable's WAL is only
// deleted once a synced manifest lists the synced table.
Status DBImpl::flush_oldest(std::unique_lock<std::mutex>& lock) {
  std::shared_ptr<MemTable> mem = immutables_.front().mem;
  SequenceNumber last_sequence = immutables_.front().last_sequence;
  uint64_t wal_number = immutables_.front().wal_number;
  lock.unlock();
  Result<std::optional<UnsyncedTable>> table = write_memtable_table_unsynced(table_sink(), *mem);
  lock.lock();
  if (!table.ok()) return table.status();
  if (table.value()) levels_[0].insert(levels_[0].begin(), table.value()->live);
  WEASEL_ASSERT(immutables_.front().mem == mem);
  immutables_.pop_front();
  flush_pending_.store(!immutables_.empty(), std::memory_order_relaxed);
  install_read_state();
  progress_cv_.notify_all();  // a writer stalled on a full set of memtables may go on
  lock.unlock();
  mem.reset();  // the last reference unless a reader still holds an older read state
  Status s;
  if (table.value()) {
    s = sync_table(&*table.value());
    if (s.ok()) {
      counters_.flush_bytes_written.fetch_add(table.value()->live.meta.bytes,
                                              std::memory_order_relaxed);
    }
  }
  lock.lock();
  // On failure the table keeps serving reads (its bytes are in the page cache) and the DB
  // stops (background error); the WAL, still there, replays the writes at the next open.
  if (!s.ok()) return s;
  // The memtable's WAL is closed (and the next one started) before a manifest retires it.
  progress_cv_.wait(lock, [&] { return !wal_sealing_; });
  uint64_t previous_log = log_number_;
  SequenceNumber previous_flushed = flushed_sequence_;
  log_number_ = immutables_.empty() ? wal_number_ : immutables_.front().wal_number;
  flushed_sequence_ = last_sequence;
  ManifestState state = manifest_state();
  lock.unlock();
  s = write_manifest(*fs_, path_, state, cipher_.get());
  lock.lock();
  if (!s.ok()) {
    log_number_ = previous_log;
    flushed_sequence_ = previous_flushed;
    // The file stays: a failed manifest write may still have renamed the new manifest,
    // which lists it, into place. The next open removes it if no manifest does.
    return s;
  }
  ++flushed_count_;
  counters_.flushes.fetch_add(1, std::memory_order_relaxed);
  (void)fs_->remove_file(wal_path(path_, wal_number));
  return {};
}

Status DBImpl::flush() {
  Writer w;  // batch == nullptr: a flush request
  std::unique_lock lock(mu_);
  if (closing_) return Status::invalid_argument(path_ + ": the database is closed");
  writers_.push_back(&w);
  w.cv.wait(lock, [&] { return writers_.front() == &w && !solo_writing_; });
  // As the leader, nobody is inserting into mem_: it may be sealed.
  Status s = make_room(lock, true);
  uint64_t target = sealed_count_;
  writers_.pop_front();
  hand_over_leadership();
  if (!s.ok()) return s;
  progress_cv_.wait(lock, [&] { return flushed_count_ >= target || !background_error_.ok(); });
  return background_error_;
}

Status DBImpl::wait_for_background_work() {
  std::unique_lock lock(mu_);
  background_cv_.notify_one();
  progress_cv_.wait(lock, [&] {
    return closed_ || !background_error_.ok() ||
           (flushed_count_ == sealed_count_ && (!compaction_allowed() || !compaction_wanted()));
  });
  if (closed_) return Status::invalid_argument(path_ + ": the database is closed");
  if (background_error_.ok() && compaction_wanted()) {
    return Status::busy(path_ + ": compactions are paused");
  }
  return background_error_;
}

Status DBImpl::pause_compactions() {
  std::lock_guard lock(mu_);
  if (closing_) return Status::invalid_argument(path_ + ": the database is closed");
  // A compaction already running finishes; no new one starts.
  compactions_paused_ = true;
  return {};
}

Status DBImpl::resume_compactions() {
  std::lock_guard lock(mu_);
  if (closing_) return Status::invalid_argument(path_ + ": the database is closed");
  compactions_paused_ = false;
  background_cv_.notify_one();
  return {};
}

Status DBImpl::compact_range(std::optional<std::string_view> begin,
                             std::optional<std::string_view> end) {
  if (begin && end && *begin >= *end) {
    return Status::invalid_argument("compact_range needs begin < end");
  }
  {
    // Checked before the flush, which would stall behind a full L0 while paused.
    std::lock_guard lock(mu_);
    if (!compaction_allowed()) return Status::busy(path_ + ": compactions are paused");
  }
  Status s = flush();
  if (!s.ok()) return s;
  ManualCompaction request;
  if (begin) request.begin = std::string(*begin);
  if (end) request.end = std::string(*end);
  std::unique_lock lock(mu_);
  if (!compaction_allowed()) return Status::busy(path_ + ": compactions are paused");
  // One manual request at a time; the background thread clears manual_ when done.
  progress_cv_.wait(lock, [&] { return manual_ == nullptr || !background_error_.ok(); });
  if (!background_error_.ok()) return background_error_;
  manual_ = &request;
  background_cv_.notify_one();
  progress_cv_.wait(lock, [&] { return request.done || !background_error_.ok() || closed_; });
  if (!request.done) {
    manual_ = nullptr;
    return background_error_.ok() ? Status::invalid_argument(path_ + ": closed during compaction")
                                  : background_error_;
  }
  return request.status;
}

}  // namespace weaseldb::storage
