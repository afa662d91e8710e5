#pragma once
// Options of the storage engine: how a database is opened (Options), read (ReadOptions) and
// written (WriteOptions). Plain aggregates with the defaults a user of LevelDB or RocksDB
// would expect; DB::open() validates them and returns invalid_argument naming the field.
//
// Ownership: values. ReadOptions::snapshot shares ownership of the snapshot it names.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace weaseldb::storage {

// Every write is stamped with a sequence number; a read sees the writes at or below its
// sequence. Sequence numbers fit in 56 bits (the low 8 bits of an internal key's trailer hold
// the entry type), which leaves room for WeaselDB versions (below 2^53).
using SequenceNumber = uint64_t;
inline constexpr SequenceNumber kMaxSequenceNumber = (uint64_t{1} << 56) - 1;

// Per-block compression of SSTables. A block that does not shrink by at least 1/8 is stored
// uncompressed, so the choice never costs space.
enum class Compression : uint8_t {
  kNone = 0,
  kLz4 = 1,
  kZstd = 2,
  kSnappy = 3,
};

// When a write is on stable storage. Every mode writes the WAL before the write returns, so a
// process crash loses nothing; the modes differ on machine crashes (power loss).
enum class Durability : uint8_t {
  // No fsync: a machine crash may lose recent writes (never reorder or corrupt them).
  kNone = 0,
  // The write returns after an fdatasync that covers it; concurrent writers share one
  // fdatasync (group commit).
  kGroupSync = 1,
  // The write returns after its own fdatasync, also when others are waiting.
  kSyncEachWrite = 2,
};

class Snapshot;
class FileSystem;  // src/storage/file.hpp

struct Options {
  bool create_if_missing = true;
  bool error_if_exists = false;
  Durability durability = Durability::kGroupSync;

  // A memtable becomes immutable (and is flushed to an L0 SSTable) past this size.
  size_t memtable_bytes = size_t{64} << 20;
  // Writers stall (and a metric says so) while this many immutable memtables await a flush.
  size_t max_immutable_memtables = 2;

  // Uncompressed target size of an SSTable data block.
  size_t block_bytes = size_t{16} << 10;
  // Keys between restart points are prefix-compressed against their predecessor.
  uint32_t block_restart_interval = 16;
  // Bytes of uncompressed blocks kept in the shared block cache (CLOCK eviction; 0 disables it).
  size_t block_cache_bytes = size_t{64} << 20;
  // Bloom filter bits per key (about 1% false positives at 10); 0 writes no filter.
  uint32_t bloom_bits_per_key = 10;
  Compression compression = Compression::kLz4;
  // Library-specific level (zstd: 1..22, lz4: acceleration); 0 means the library default.
  int compression_level = 0;
  // Encryption at rest: path of a file holding an AES-256-GCM key (32 raw bytes, or 64 hex
  // digits). Table blocks, WAL records and the manifest are then sealed; a database written
  // with a key cannot be opened without it (invalid_argument) or with another (corruption).
  // Empty: no encryption (tables written with a key stay readable only with it).
  std::string encryption_key_file;

  // Leveled compaction with a tiered L0.
  uint32_t l0_compaction_trigger = 4;      // L0 files that start a compaction into L1
  // L0 files from which each write is delayed once, by up to 1 ms (less when a compaction
  // finishes first), so that compaction catches up before writers must stop. Counted in
  // Statistics::slowdowns and stall_micros. At or above l0_stop_writes_trigger: no slowdown;
  // below l0_compaction_trigger it acts as l0_compaction_trigger.
  uint32_t l0_slowdown_writes_trigger = 8;
  // L0 files at which writers stop until a compaction shrinks L0 (Statistics::stalls).
  uint32_t l0_stop_writes_trigger = 12;
  uint64_t target_file_bytes = uint64_t{64} << 20;
  uint64_t level1_bytes = uint64_t{256} << 20;
  uint32_t level_size_multiplier = 10;
  uint32_t max_levels = 7;
  // Table files kept open by the table cache, in [4, 1048576]. Past it the least recently
  // used handle is closed (and reopened on demand); a handle an iterator or a read is using
  // stays open until it is done, so the count may pass the limit briefly. The WAL, the LOCK
  // file and files being written take descriptors beyond this.
  uint32_t max_open_files = 1000;
  // Bytes per second that compactions may write (a token bucket with 100 ms of burst);
  // 0: unlimited. Flushes are not limited: writers wait for them. close() lifts the limit so
  // that a compaction in progress finishes at full speed.
  uint64_t compaction_rate_limit_bytes_per_sec = 0;

  // Where the database's files live; null: the operating system's (posix_file_system()).
  // Tests swap in a layer that injects errors or simulates crashes.
  std::shared_ptr<FileSystem> file_system;

  // Pins history from this sequence at open, as DB::set_history_floor() would, but before any
  // compaction can run (the floor is not persisted: a reader that needs old versions passes
  // its floor at every open). invalid_argument if compaction already dropped history above it.
  std::optional<SequenceNumber> history_floor;
};

struct ReadOptions {
  // Read as of this snapshot; takes precedence over `sequence`.
  std::shared_ptr<const Snapshot> snapshot;
  // Read as of this sequence number (a WeaselDB version). It must be at least
  // DB::history_floor() and at most DB::latest_sequence(); otherwise invalid_argument.
  std::optional<SequenceNumber> sequence;
  // Iterators only: keys outside [lower_bound, upper_bound) are invisible.
  std::optional<std::string> lower_bound;
  std::optional<std::string> upper_bound;
  // Verify block checksums on every read (metadata blocks are always verified).
  bool verify_checksums = true;
  // Put the blocks this read loads into the block cache.
  bool fill_cache = true;
};

struct WriteOptions {
  // Overrides Options::durability for this write.
  std::optional<Durability> durability;
  // Stamps every operation of the write with this sequence number (a WeaselDB version), which
  // must be above DB::latest_sequence(). Without it the engine takes latest_sequence() + 1.
  // Either way one write consumes exactly one sequence number, and its operations apply in
  // order (a later operation on the same key wins).
  std::optional<SequenceNumber> sequence;
};

}  // namespace weaseldb::storage
