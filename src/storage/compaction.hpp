#pragma once
// Writing table files: one from a memtable (a flush), or several from merged tables (a
// compaction into the next level).
//
// Compaction rules (LevelDB's, plus range tombstones), with `smallest_snapshot` the lowest
// sequence any reader may still use (DB::history_floor()):
//   - of the versions of a key, one older than a newer version at or below smallest_snapshot
//     is invisible to every reader: dropped;
//   - a deletion at or below smallest_snapshot is dropped where no deeper level overlaps its
//     key (nothing older can reappear);
//   - a value hidden by a range tombstone of the inputs whose sequence is at or below
//     smallest_snapshot is dropped; such a tombstone is then dropped too where no deeper
//     level overlaps its range. Other tombstones are kept.
// Outputs are cut at about target_file_bytes, only between user keys, so the files of a level
// never overlap; each file gets the kept tombstones clipped to its key range (the ranges of
// consecutive files meet at the first key of the next one).
//
// Ownership: LiveTable shares ownership of its open Table. Output files are synced before
// these functions return; the caller records them in the manifest.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "storage/manifest.hpp"
#include "storage/memtable.hpp"
#include "storage/table.hpp"
#include "storage/table_builder.hpp"

namespace weaseldb::storage {

struct LiveTable {
  TableMeta meta;
  std::shared_ptr<const Table> table;
};

class RateLimiter;

// Where new tables go. Files are created through context.files' file system; their writes
// pass through `limiter` when set (compactions, Options::compaction_rate_limit_bytes_per_sec).
struct TableSink {
  std::string dir;
  TableOptions options;
  TableContext context;
  std::function<uint64_t()> new_file_number;  // called with no lock held by the caller
  RateLimiter* limiter = nullptr;
  // Compactions only: when *flush_pending is set, compact_tables() calls flush_between()
  // between two entries (LevelDB's priority for a sealed memtable), so a long compaction
  // does not hold a sealed memtable, and the writers it would stall, until it ends. Called
  // with no lock held by the caller; an error fails the compaction.
  const std::atomic<bool>* flush_pending = nullptr;
  std::function<Status()> flush_between;
};

// Writes every entry and tombstone of `mem` to one L0 table; nullopt when it holds nothing.
Result<std::optional<LiveTable>> write_memtable_table(const TableSink& sink, const MemTable& mem);

// A table whose bytes are all written (readable through the page cache) but not yet synced:
// it may serve reads, but no manifest may list it before sync_table() succeeded. Owns the
// file open for writing until then. A table that is never synced stays an orphan file that
// the next open removes, unless a manifest lists it.
struct UnsyncedTable {
  LiveTable live;
  std::unique_ptr<WritableFile> file;
};
// write_memtable_table() without the sync: the flush publishes the table, and frees the
// memtable, before paying for the sync (bench/README.md: it lowers the peak memory).
Result<std::optional<UnsyncedTable>> write_memtable_table_unsynced(const TableSink& sink,
                                                                   const MemTable& mem);
// Makes the table durable and closes its file.
Status sync_table(UnsyncedTable* table);

struct CompactionStats {
  uint64_t input_entries = 0;
  uint64_t dropped_entries = 0;
  uint64_t dropped_tombstones = 0;
  uint64_t bytes_written = 0;
};

// Whether a level below the output holds files overlapping the user keys [lo, hi]; null when
// the output is the bottom.
using DeeperOverlap = std::function<bool(std::string_view lo, std::string_view hi)>;

// Merges `inputs` (tables; any order, their internal keys are distinct) into tables of about
// `target_file_bytes` each, ordered by key.
Result<std::vector<LiveTable>> compact_tables(const TableSink& sink,
                                              const std::vector<std::shared_ptr<const Table>>& inputs,
                                              SequenceNumber smallest_snapshot,
                                              uint64_t target_file_bytes,
                                              const DeeperOverlap& deeper, CompactionStats* stats);

}  // namespace weaseldb::storage
