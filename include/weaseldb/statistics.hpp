#pragma once
// Statistics: what the storage engine has done since DB::open(), as a plain snapshot
// (DB::statistics()). The server exports the counters as weaseldb_storage_* (SPEC section 7;
// names in docs/storage.md).
//
// Contract
// - Counters only grow while a DB is open; each is read with a relaxed load, so a snapshot
//   is not atomic across fields (a flush may be counted in `flushes` and not yet in
//   flush_bytes_written). Gauges describe the moment of the call.
// - Counting is lock-free (relaxed atomics bumped where the work happens); the gauges take
//   the DB's mutex briefly.
//
// Ownership: a plain value.

#include <cstdint>
#include <vector>

namespace weaseldb::storage {

struct Statistics {
  // Background work.
  uint64_t flushes = 0;      // memtables written to L0 tables
  uint64_t compactions = 0;  // compactions installed
  // Bytes written.
  uint64_t wal_bytes_written = 0;
  uint64_t wal_syncs = 0;  // fdatasyncs of the WAL (one per group commit that asked for it)
  uint64_t flush_bytes_written = 0;       // table bytes written by flushes
  uint64_t compaction_bytes_written = 0;  // table bytes written by compactions
  uint64_t table_bytes_written = 0;       // the sum of the two
  // Bytes read.
  uint64_t table_bytes_read = 0;  // by user reads (get, iterators): blocks read from files
  uint64_t compaction_bytes_read = 0;   // blocks read from files by compactions
  uint64_t compaction_input_bytes = 0;  // sizes of the tables compactions consumed
  uint64_t compaction_entries_dropped = 0;  // shadowed versions and settled tombstones
  // Caches.
  uint64_t block_cache_hits = 0;
  uint64_t block_cache_misses = 0;
  uint64_t table_cache_hits = 0;    // a table read found its file open
  uint64_t table_cache_misses = 0;  // and had to open it (Options::max_open_files)
  // Writers waiting on background work (the engine never stalls without counting it).
  uint64_t stall_micros = 0;  // total time writers waited (stops and slowdowns)
  uint64_t stalls = 0;     // waits for a full set of memtables or L0 at its stop trigger
  uint64_t slowdowns = 0;  // writes delayed because L0 passed its slowdown trigger
  // Compactions waiting for the rate limiter (Options::compaction_rate_limit_bytes_per_sec).
  uint64_t compaction_rate_limit_wait_micros = 0;

  // Gauges.
  uint64_t memtable_bytes = 0;
  uint64_t immutable_memtables = 0;
  uint64_t l0_files = 0;
  uint64_t table_files = 0;
  uint64_t open_table_files = 0;  // table file descriptors open now (cached or in use)
  uint64_t block_cache_usage_bytes = 0;
  std::vector<uint64_t> level_files;  // per level, L0 first
  std::vector<uint64_t> level_bytes;
};

}  // namespace weaseldb::storage
