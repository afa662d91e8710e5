#pragma once
// DBImpl: the engine behind weaseldb::storage::DB (contract: include/weaseldb/db.hpp).
//
// Shape (LevelDB's): one WAL per memtable. Writers queue up; the one at the front leads a
// group: it stamps sequence numbers, appends the group's batches to the WAL (one flush or
// fdatasync for the group), inserts them into the memtable, then publishes the last sequence
// (release store) so readers see whole writes only. A writer that finds nobody queued or
// leading does the same for itself without queueing (write_solo); arrivals queue behind it. A full memtable becomes immutable and a
// new WAL is started; the background thread writes immutable memtables to L0 tables, records
// them in the manifest and deletes the WALs they made redundant. Reads take a ReadState (the
// memtables and tables of one moment, shared_ptrs) under the mutex and then run unlocked.
//
// Locking: mu_ guards everything below it except what the leader alone touches while it
// writes unlocked (the WAL writer, the applier and insertion into mem_, which only a leader
// may switch). last_sequence_ is atomic for readers.
//
// Compaction is leveled with a tiered L0: past Options::l0_compaction_trigger files, all of L0
// and the L1 files it overlaps are merged into L1; a level Ln (n >= 1) over its size target
// (level1_bytes * multiplier^(n-1)) pushes one file, round robin over its key space, and the
// Ln+1 files it overlaps into Ln+1. Deletions and range tombstones are dropped only where no
// deeper level overlaps them.
//
// Files: every operation goes through fs_ (Options::file_system). Table descriptors live in
// the TableCache (Options::max_open_files); a table a compaction replaced is deleted when its
// last reader drops it (Table::mark_obsolete()). Writers stall only in make_room(), and every
// stall is counted (Statistics); compaction writes pass through limiter_ when set.
//
// Encryption at rest (Options::encryption_key_file): table blocks, WAL records and the
// manifest body are sealed with AES-256-GCM (cipher.hpp). A WAL record is a kind byte
// (kWalPlain or kWalSealed) and the batch, or the sealed batch bound to the WAL's number.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/batch_apply.hpp"
#include "storage/compaction.hpp"
#include "storage/file.hpp"
#include "storage/manifest.hpp"
#include "storage/memtable.hpp"
#include "storage/rate_limiter.hpp"
#include "storage/table.hpp"
#include "storage/table_builder.hpp"
#include "storage/wal_writer.hpp"
#include "weaseldb/db.hpp"

namespace weaseldb::storage {

class DBImpl final : public DB {
 public:
  DBImpl(const Options& options, std::string path);
  ~DBImpl() override;

  // Recovers the state on disk and starts the background thread.
  Status open();

  Status put(const WriteOptions& options, std::string_view key, std::string_view value) override;
  Status del(const WriteOptions& options, std::string_view key) override;
  Status delete_range(const WriteOptions& options, std::string_view begin,
                      std::string_view end) override;
  Status write(const WriteOptions& options, const WriteBatch& batch) override;
  Status get(const ReadOptions& options, std::string_view key, std::string* value) override;
  std::unique_ptr<Iterator> new_iterator(const ReadOptions& options) override;
  std::shared_ptr<const Snapshot> snapshot() override;
  SequenceNumber latest_sequence() const override;
  SequenceNumber history_floor() const override;
  Status set_history_floor(SequenceNumber floor) override;
  Status flush() override;
  Status wait_for_background_work() override;
  Status compact_range(std::optional<std::string_view> begin,
                       std::optional<std::string_view> end) override;
  Status pause_compactions() override;
  Status resume_compactions() override;
  Statistics statistics() const override;
  Status close() override;

 private:
  struct Writer;
  struct Immutable {
    std::shared_ptr<MemTable> mem;
    uint64_t wal_number;
    SequenceNumber last_sequence;  // the DB's last sequence when it was sealed
  };
  // What one read looks at; replaced (never modified) when memtables or tables change.
  struct ReadState {
    std::shared_ptr<MemTable> mem;
    std::vector<std::shared_ptr<MemTable>> immutables;  // newest first
    std::vector<std::shared_ptr<const Table>> level0;  // newest first
    std::vector<std::vector<LiveTable>> deeper;        // L1, L2, ...: each sorted, disjoint
  };
  struct SnapshotList {
    std::mutex mu;
    std::multiset<SequenceNumber> live;
  };
  class SnapshotImpl;
  // Relaxed atomics: bumped where the work happens, read by statistics() without a lock.
  struct Counters {
    std::atomic<uint64_t> flushes{0};
    std::atomic<uint64_t> compactions{0};
    std::atomic<uint64_t> wal_bytes_written{0};
    std::atomic<uint64_t> wal_syncs{0};
    std::atomic<uint64_t> flush_bytes_written{0};
    std::atomic<uint64_t> compaction_bytes_written{0};
    std::atomic<uint64_t> compaction_input_bytes{0};
    std::atomic<uint64_t> compaction_entries_dropped{0};
    std::atomic<uint64_t> stall_micros{0};
    std::atomic<uint64_t> stalls{0};
    std::atomic<uint64_t> slowdowns{0};
  };

  // close() with `force`: also with live iterators (the destructor must stop the thread).
  Status close_impl(bool force);

  // open() steps (db_impl.cpp).
  Status recover(ManifestState* state, std::vector<uint64_t>* wal_numbers);
  Status replay_wal(uint64_t number, bool last, MemTable* mem, SequenceNumber* max_sequence);
  Status open_tables(const ManifestState& state);
  Status start_wal(uint64_t number);
  static constexpr uint8_t kWalPlain = 0;
  static constexpr uint8_t kWalSealed = 1;
  // The leader's WAL record for a stamped batch (in sealed_, valid until the next call).
  std::string_view encode_wal_record(const std::string& rep, uint64_t wal_number);
  Status decode_wal_record(std::string_view record, uint64_t wal_number, std::string* scratch,
                           WriteBatch* batch) const;
  void remove_obsolete_files(const ManifestState& state);
  TableSink table_sink();

  // Writes (db_write.cpp).
  // write() after validation: put() and del() check their one operation themselves.
  Status write_validated(const WriteOptions& options, const WriteBatch& batch);
  bool form_group(const Status& room);
  Status log_and_apply(bool sync);
  Status write_solo(std::unique_lock<std::mutex>& lock, const WriteBatch& batch,
                    Durability durability, std::optional<SequenceNumber> requested);
  Status next_sequence(std::optional<SequenceNumber> requested, SequenceNumber* sequence) const;
  Status log_batch(const WriteBatch& batch, SequenceNumber sequence, uint64_t* logged);
  Status end_log(bool sync, uint64_t logged);
  void publish(const Status& s, SequenceNumber last);
  void hand_over_leadership();
  Status make_room(std::unique_lock<std::mutex>& lock, bool force);
  Status seal_memtable(std::unique_lock<std::mutex>& lock);
  void background_loop();
  bool compaction_allowed() const { return !compactions_paused_ || closing_; }
  // Waits on progress_cv_ (once, or up to `timeout` when set) and counts the wait as a stall.
  void stall(std::unique_lock<std::mutex>& lock, std::optional<std::chrono::microseconds> timeout);
  Status flush_oldest(std::unique_lock<std::mutex>& lock);
  bool compaction_wanted() const;
  // db_compaction.cpp: picks and runs one compaction (a manual request's next step, L0 into
  // L1, or the level most over its size into the next).
  Status compact(std::unique_lock<std::mutex>& lock);
  // Merges `inputs` (files of `level`) and the files of level + 1 they overlap into level + 1.
  Status compact_into_next(std::unique_lock<std::mutex>& lock, size_t level,
                           std::vector<LiveTable> inputs);
  // The level whose compaction is most needed (score >= 1), if any.
  std::optional<size_t> level_to_compact() const;
  Status install_levels(std::unique_lock<std::mutex>& lock,
                        std::vector<std::vector<LiveTable>> levels);
  SequenceNumber history_floor_locked() const;
  void install_read_state();
  ManifestState manifest_state() const;

  // Reads (db_read.cpp).
  struct ReadView {
    SequenceNumber sequence;
    std::shared_ptr<const ReadState> state;
  };
  Result<ReadView> read_view(const ReadOptions& options) const;
  Result<SequenceNumber> read_sequence_locked(const ReadOptions& options) const;

  const Options options_;
  const std::string path_;
  const std::shared_ptr<FileSystem> fs_;  // every file operation goes through it
  // Set up by the constructor and open() (the key), fixed afterwards.
  TableOptions table_options_;
  TableContext table_context_;
  std::shared_ptr<const Cipher> cipher_;  // null: no encryption at rest
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<RateLimiter> limiter_;  // null: compactions are not paced

  mutable std::mutex mu_;
  std::condition_variable background_cv_;  // work for the background thread
  std::condition_variable progress_cv_;    // a flush finished (or failed)
  std::deque<Writer*> writers_;
  // A writer that found no one queued or writing leads alone without queueing (write_solo);
  // while it does, writers queue and the front one waits for it too.
  bool solo_writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool compactions_paused_ = false;
  Status background_error_;  // sticky: a failed WAL write or flush stops all writes

  std::shared_ptr<MemTable> mem_;
  std::deque<Immutable> immutables_;  // oldest first
  // !immutables_.empty(), readable without mu_ by a running compaction (which then lets
  // the flush go first).
  std::atomic<bool> flush_pending_{false};
  // levels_[0] is L0, newest first; deeper levels are sorted by key and disjoint.
  std::vector<std::vector<LiveTable>> levels_;
  std::vector<std::string> compact_pointer_;  // per level: where its next compaction starts
  SequenceNumber compaction_floor_ = 0;
  // A compact_range() request: the L1 range to rewrite too (unset bounds: unbounded).
  struct ManualCompaction {
    std::optional<std::string> begin;
    std::optional<std::string> end;
    size_t level = 0;  // the next level to push down
    bool done = false;
    Status status;
  };
  ManualCompaction* manual_ = nullptr;
  std::shared_ptr<const ReadState> read_state_;
  uint64_t next_file_number_ = 1;
  uint64_t log_number_ = 0;
  SequenceNumber flushed_sequence_ = 0;  // in the manifest
  uint64_t sealed_count_ = 0;   // memtables made immutable so far
  uint64_t flushed_count_ = 0;  // of which flushed and in the manifest

  // The current WAL: only the leader writes to it and switches it (unlocked).
  std::unique_ptr<WritableFile> wal_file_;
  std::unique_ptr<WalWriter> wal_;
  uint64_t wal_number_ = 0;
  // A leader is syncing and closing the sealed WAL and starting the next one, unlocked
  // (seal_memtable): wal_number_ is still the sealed one's until it clears.
  bool wal_sealing_ = false;
  BatchApplier applier_;
  std::vector<Writer*> group_;      // the leader's current group
  SequenceNumber group_sequence_ = 0;  // and the last sequence it stamped
  std::string record_;  // the leader's scratch for a stamped batch
  std::string sealed_;         // and for its WAL record
  std::string record_sealed_;  // and for the encrypted batch

  std::atomic<SequenceNumber> last_sequence_{0};
  std::shared_ptr<SnapshotList> snapshots_ = std::make_shared<SnapshotList>();
  std::optional<SequenceNumber> history_floor_;
  std::shared_ptr<std::atomic<int64_t>> live_iterators_ =
      std::make_shared<std::atomic<int64_t>>(0);
  Counters counters_;
  std::thread background_;
};

}  // namespace weaseldb::storage
