#pragma once
// The engines db_bench drives (bench/db_bench.cpp): WeaselDB's storage engine, RocksDB and
// LevelDB behind one small interface, so that every workload runs the same code against
// each of them with the same settings (EngineConfig).
//
// Contract
// - make_engine() opens (creating) a database in config.path; invalid_argument for an unknown
//   engine name or a setting the engine cannot honour, the engine's own error otherwise.
// - put() writes through the WAL; `sync` asks for an fsync covering this write.
// - get() sets *found and, when found, *value.
// - compact_all() compacts the whole key space and returns once no background work is left,
//   so that timed reads that follow see a settled tree.
// - Errors carry the engine's message. Not thread-safe: one thread drives an engine.
//
// Ownership: the caller owns the engine; an iterator must be destroyed before its engine.
// key()/value() views are valid until the iterator moves.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.hpp"

namespace weasel::bench {

struct EngineConfig {
  std::string path;
  size_t cache_bytes = size_t{64} << 20;
  size_t block_bytes = size_t{16} << 10;
  size_t write_buffer_bytes = size_t{64} << 20;
  // Memtables in memory at once, the active one included (RocksDB's max_write_buffer_number;
  // WeaselDB's max_immutable_memtables + 1; LevelDB always has 2).
  int write_buffers = 2;
  int bloom_bits = 10;
  std::string compression = "lz4";  // none, lz4, snappy, zstd
  // Block checksums checked on every read (RocksDB's and WeaselDB's default; LevelDB's is
  // off, so it is set explicitly for all three).
  bool verify_checksums = true;
};

class BenchIterator {
 public:
  virtual ~BenchIterator() = default;
  virtual void seek(std::string_view target) = 0;
  virtual void seek_to_first() = 0;
  virtual bool valid() const = 0;
  virtual void next() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  virtual Status status() const = 0;
};

class BenchEngine {
 public:
  virtual ~BenchEngine() = default;
  virtual Status put(std::string_view key, std::string_view value, bool sync) = 0;
  virtual Status get(std::string_view key, std::string* value, bool* found) = 0;
  virtual std::unique_ptr<BenchIterator> new_iterator() = 0;
  virtual Status compact_all() = 0;
  // One line on what the engine was configured with (printed in the header).
  virtual std::string describe() const = 0;
  // What the engine's own counters say about the work since the previous call, appended to
  // a workload's line (WeaselDB: write stalls, flushes, compactions); empty for the peers.
  virtual std::string activity() { return {}; }
};

// `name`: weaseldb, rocksdb or leveldb.
Result<std::unique_ptr<BenchEngine>> make_engine(std::string_view name,
                                                 const EngineConfig& config);

bool is_engine_name(std::string_view name);

}  // namespace weasel::bench
