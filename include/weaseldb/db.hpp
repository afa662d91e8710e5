#pragma once
// DB: an embeddable LSM key-value store (LevelDB's shape): a WAL and a memtable take writes,
// full memtables are flushed to sorted, immutable tables (SSTables) that compaction merges
// level by level. Keys and values are arbitrary bytes; keys order by memcmp.
//
// Contract
// - open() creates or opens the database in directory `path`, replays its WAL (a torn tail
//   left by a crash is dropped; corruption anywhere else fails the open) and takes an
//   exclusive lock on the directory (busy when another process holds it).
// - Every write consumes one sequence number; get() and iterators read as of a sequence
//   (the latest, a snapshot's, or ReadOptions::sequence) and see exactly the writes at or
//   below it. A write is visible to readers only once it is complete, never partially.
// - Writes are atomic, durable as WriteOptions/Options::durability says, and may run from
//   several threads (they are serialized in one queue, group-committed). Reads run
//   concurrently with writes and with each other, without locks on the memtable path.
// - Limits: keys up to kMaxKeyBytes, values up to kMaxValueBytes, a batch up to
//   kMaxBatchBytes; beyond them invalid_argument.
// - History: reads as of a sequence below history_floor() are refused (invalid_argument)
//   because compaction may have merged away the versions they need. The floor is the oldest
//   live snapshot, or what set_history_floor() pinned, or else the latest sequence.
// - After close() (or a failed write that put the DB in an error state) every call returns
//   an error; close() is idempotent. The destructor closes and ignores the status.
//
// Ownership: the caller owns the DB (unique_ptr). Snapshots are shared_ptrs that may outlive
// the DB (they then pin nothing). Iterators must be destroyed before close().

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weaseldb/iterator.hpp"
#include "weaseldb/options.hpp"
#include "weaseldb/statistics.hpp"
#include "weaseldb/status.hpp"
#include "weaseldb/write_batch.hpp"

namespace weaseldb::storage {

inline constexpr size_t kMaxKeyBytes = size_t{1} << 20;
inline constexpr size_t kMaxValueBytes = size_t{1} << 28;
inline constexpr size_t kMaxBatchBytes = size_t{1} << 30;

// A read view fixed at a sequence number. While it lives, compaction keeps every version it
// can see.
class Snapshot {
 public:
  explicit Snapshot(SequenceNumber sequence) : sequence_(sequence) {}
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
  virtual ~Snapshot() = default;

  SequenceNumber sequence() const { return sequence_; }

 private:
  SequenceNumber sequence_;
};

class DB {
 public:
  static Result<std::unique_ptr<DB>> open(const Options& options, const std::string& path);

  DB() = default;
  DB(const DB&) = delete;
  DB& operator=(const DB&) = delete;
  virtual ~DB() = default;

  virtual Status put(const WriteOptions& options, std::string_view key,
                     std::string_view value) = 0;
  virtual Status del(const WriteOptions& options, std::string_view key) = 0;
  // Removes every key in [begin, end); invalid_argument unless begin < end.
  virtual Status delete_range(const WriteOptions& options, std::string_view begin,
                              std::string_view end) = 0;
  virtual Status write(const WriteOptions& options, const WriteBatch& batch) = 0;

  // ok and *value set, or not_found (absent or deleted), or an error.
  virtual Status get(const ReadOptions& options, std::string_view key, std::string* value) = 0;
  // Never null; a failed creation yields an iterator whose status() says why.
  virtual std::unique_ptr<Iterator> new_iterator(const ReadOptions& options) = 0;

  virtual std::shared_ptr<const Snapshot> snapshot() = 0;
  // The sequence number of the last write (0 for a new database).
  virtual SequenceNumber latest_sequence() const = 0;
  virtual SequenceNumber history_floor() const = 0;
  // Keeps reads as of any sequence >= `floor` valid until the floor is moved again. It only
  // moves forward (invalid_argument otherwise) and is not persisted.
  virtual Status set_history_floor(SequenceNumber floor) = 0;

  // Writes the memtable to an SSTable and waits until it is durable.
  virtual Status flush() = 0;
  // Waits until no flush or compaction is pending: the levels are within their targets.
  virtual Status wait_for_background_work() = 0;
  // Compacts the keys in [begin, end) (all keys when unset) down to the bottom level.
  virtual Status compact_range(std::optional<std::string_view> begin,
                               std::optional<std::string_view> end) = 0;
  // Stops starting compactions (one running finishes) until resume_compactions(); flushes
  // go on. Writers stall when L0 reaches Options::l0_stop_writes_trigger meanwhile, and
  // compact_range()/wait_for_background_work() return busy. close() ends the pause. For
  // operators (a maintenance window) and for tests that need a stall.
  virtual Status pause_compactions() = 0;
  virtual Status resume_compactions() = 0;

  virtual Statistics statistics() const = 0;

  // Finishes background work, syncs the WAL and releases the directory lock.
  virtual Status close() = 0;
};

}  // namespace weaseldb::storage
