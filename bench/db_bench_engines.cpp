// The three engines of db_bench behind BenchEngine (contract: db_bench_engines.hpp).

#include "bench/db_bench_engines.hpp"

#include <fmt/format.h>
#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>

#include "weaseldb/storage.hpp"

namespace weasel::bench {

namespace {

// ---- WeaselDB ----

Result<weaseldb::storage::Compression> weasel_compression(const std::string& name) {
  using weaseldb::storage::Compression;
  if (name == "none") return Compression::kNone;
  if (name == "lz4") return Compression::kLz4;
  if (name == "snappy") return Compression::kSnappy;
  if (name == "zstd") return Compression::kZstd;
  return Status::invalid_argument(fmt::format("unknown compression '{}'", name));
}

class WeaselIterator final : public BenchIterator {
 public:
  explicit WeaselIterator(std::unique_ptr<weaseldb::storage::Iterator> it) : it_(std::move(it)) {}
  void seek(std::string_view target) override { it_->seek(target); }
  void seek_to_first() override { it_->seek_to_first(); }
  bool valid() const override { return it_->valid(); }
  void next() override { it_->next(); }
  std::string_view key() const override { return it_->key(); }
  std::string_view value() const override { return it_->value(); }
  Status status() const override { return it_->status(); }

 private:
  std::unique_ptr<weaseldb::storage::Iterator> it_;
};

class WeaselEngine final : public BenchEngine {
 public:
  static Result<std::unique_ptr<BenchEngine>> open(const EngineConfig& config) {
    namespace st = weaseldb::storage;
    st::Options options;
    options.durability = st::Durability::kNone;
    options.memtable_bytes = config.write_buffer_bytes;
    options.max_immutable_memtables = static_cast<size_t>(config.write_buffers - 1);
    options.block_bytes = config.block_bytes;
    options.block_cache_bytes = config.cache_bytes;
    options.bloom_bits_per_key = static_cast<uint32_t>(config.bloom_bits);
    Result<st::Compression> compression = weasel_compression(config.compression);
    if (!compression.ok()) return compression.status();
    options.compression = compression.value();
    auto db = st::DB::open(options, config.path);
    if (!db.ok()) return db.status();
    auto engine = std::make_unique<WeaselEngine>();
    engine->db_ = std::move(db).value();
    engine->read_options_.verify_checksums = config.verify_checksums;
    engine->describe_ = fmt::format(
        "durability=none memtable_bytes={} max_immutable_memtables={} block_bytes={} "
        "block_cache_bytes={} bloom_bits_per_key={} compression={}",
        options.memtable_bytes, options.max_immutable_memtables, options.block_bytes,
        options.block_cache_bytes,
        options.bloom_bits_per_key, config.compression);
    return std::unique_ptr<BenchEngine>(std::move(engine));
  }

  Status put(std::string_view key, std::string_view value, bool sync) override {
    weaseldb::storage::WriteOptions options;
    options.durability =
        sync ? weaseldb::storage::Durability::kGroupSync : weaseldb::storage::Durability::kNone;
    return db_->put(options, key, value);
  }

  std::string activity() override {
    weaseldb::storage::Statistics now = db_->statistics();
    std::string out = fmt::format(
        "; stalls {} ({:.0f} ms), slowdowns {}, flushes {}, compactions {}",
        now.stalls - last_.stalls, static_cast<double>(now.stall_micros - last_.stall_micros) / 1e3,
        now.slowdowns - last_.slowdowns, now.flushes - last_.flushes,
        now.compactions - last_.compactions);
    last_ = now;
    return out;
  }

  Status get(std::string_view key, std::string* value, bool* found) override {
    Status s = db_->get(read_options_, key, value);
    *found = s.ok();
    if (s.code() == StatusCode::kNotFound) return {};
    return s;
  }

  std::unique_ptr<BenchIterator> new_iterator() override {
    return std::make_unique<WeaselIterator>(db_->new_iterator(read_options_));
  }

  Status compact_all() override {
    Status s = db_->compact_range(std::nullopt, std::nullopt);
    if (s.ok()) s = db_->wait_for_background_work();
    return s;
  }

  std::string describe() const override { return describe_; }

 private:
  std::unique_ptr<weaseldb::storage::DB> db_;
  weaseldb::storage::ReadOptions read_options_;
  std::string describe_;
  weaseldb::storage::Statistics last_;  // as of the previous activity()
};

// ---- RocksDB ----

Status from_rocksdb(const rocksdb::Status& s) {
  if (s.ok()) return {};
  return Status::io_error(fmt::format("rocksdb: {}", s.ToString()));
}

Result<rocksdb::CompressionType> rocksdb_compression(const std::string& name) {
  if (name == "none") return rocksdb::kNoCompression;
  if (name == "lz4") return rocksdb::kLZ4Compression;
  if (name == "snappy") return rocksdb::kSnappyCompression;
  if (name == "zstd") return rocksdb::kZSTD;
  return Status::invalid_argument(fmt::format("unknown compression '{}'", name));
}

rocksdb::Slice slice(std::string_view s) { return {s.data(), s.size()}; }

class RocksIterator final : public BenchIterator {
 public:
  explicit RocksIterator(rocksdb::Iterator* it) : it_(it) {}
  void seek(std::string_view target) override { it_->Seek(slice(target)); }
  void seek_to_first() override { it_->SeekToFirst(); }
  bool valid() const override { return it_->Valid(); }
  void next() override { it_->Next(); }
  std::string_view key() const override { return {it_->key().data(), it_->key().size()}; }
  std::string_view value() const override { return {it_->value().data(), it_->value().size()}; }
  Status status() const override { return from_rocksdb(it_->status()); }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
};

class RocksEngine final : public BenchEngine {
 public:
  static Result<std::unique_ptr<BenchEngine>> open(const EngineConfig& config) {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.write_buffer_size = config.write_buffer_bytes;
    options.max_write_buffer_number = config.write_buffers;
    Result<rocksdb::CompressionType> compression = rocksdb_compression(config.compression);
    if (!compression.ok()) return compression.status();
    options.compression = compression.value();
    rocksdb::BlockBasedTableOptions table;
    table.block_size = config.block_bytes;
    table.block_cache = rocksdb::NewLRUCache(config.cache_bytes);
    if (config.bloom_bits > 0) {
      table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(config.bloom_bits));
    }
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    rocksdb::DB* db = nullptr;
    Status s = from_rocksdb(rocksdb::DB::Open(options, config.path, &db));
    if (!s.ok()) return s;
    auto engine = std::make_unique<RocksEngine>();
    engine->db_.reset(db);
    engine->read_options_.verify_checksums = config.verify_checksums;
    engine->describe_ = fmt::format(
        "{}.{} write_buffer_size={} max_write_buffer_number={} block_size={} block_cache={} "
        "bloom_bits={} compression={} max_background_jobs={}",
        ROCKSDB_MAJOR, ROCKSDB_MINOR, options.write_buffer_size, options.max_write_buffer_number,
        table.block_size,
        config.cache_bytes, config.bloom_bits, config.compression, options.max_background_jobs);
    return std::unique_ptr<BenchEngine>(std::move(engine));
  }

  Status put(std::string_view key, std::string_view value, bool sync) override {
    rocksdb::WriteOptions options;
    options.sync = sync;
    return from_rocksdb(db_->Put(options, slice(key), slice(value)));
  }

  Status get(std::string_view key, std::string* value, bool* found) override {
    rocksdb::Status s = db_->Get(read_options_, slice(key), value);
    *found = s.ok();
    if (s.IsNotFound()) return {};
    return from_rocksdb(s);
  }

  std::unique_ptr<BenchIterator> new_iterator() override {
    return std::make_unique<RocksIterator>(db_->NewIterator(read_options_));
  }

  Status compact_all() override {
    // Synchronous: it flushes the memtable and returns once the whole range is compacted.
    return from_rocksdb(db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr));
  }

  std::string describe() const override { return describe_; }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ReadOptions read_options_;
  std::string describe_;
};

// ---- LevelDB ----

Status from_leveldb(const leveldb::Status& s) {
  if (s.ok()) return {};
  return Status::io_error(fmt::format("leveldb: {}", s.ToString()));
}

leveldb::Slice lslice(std::string_view s) { return {s.data(), s.size()}; }

class LevelIterator final : public BenchIterator {
 public:
  explicit LevelIterator(leveldb::Iterator* it) : it_(it) {}
  void seek(std::string_view target) override { it_->Seek(lslice(target)); }
  void seek_to_first() override { it_->SeekToFirst(); }
  bool valid() const override { return it_->Valid(); }
  void next() override { it_->Next(); }
  std::string_view key() const override { return {it_->key().data(), it_->key().size()}; }
  std::string_view value() const override { return {it_->value().data(), it_->value().size()}; }
  Status status() const override { return from_leveldb(it_->status()); }

 private:
  std::unique_ptr<leveldb::Iterator> it_;
};

class LevelEngine final : public BenchEngine {
 public:
  ~LevelEngine() override {
    db_.reset();  // before the cache and the filter policy it uses
  }

  static Result<std::unique_ptr<BenchEngine>> open(const EngineConfig& config) {
    auto engine = std::make_unique<LevelEngine>();
    leveldb::Options options;
    options.create_if_missing = true;
    options.write_buffer_size = config.write_buffer_bytes;
    options.block_size = config.block_bytes;
    engine->cache_.reset(leveldb::NewLRUCache(config.cache_bytes));
    options.block_cache = engine->cache_.get();
    if (config.bloom_bits > 0) {
      engine->filter_.reset(leveldb::NewBloomFilterPolicy(config.bloom_bits));
      options.filter_policy = engine->filter_.get();
    }
    // LevelDB 1.23 compresses with snappy or not at all: any codec asked for becomes snappy
    // (said in the header line, so a reader of the figures knows).
    options.compression =
        config.compression == "none" ? leveldb::kNoCompression : leveldb::kSnappyCompression;
    leveldb::DB* db = nullptr;
    Status s = from_leveldb(leveldb::DB::Open(options, config.path, &db));
    if (!s.ok()) return s;
    engine->db_.reset(db);
    engine->read_options_.verify_checksums = config.verify_checksums;
    engine->describe_ = fmt::format(
        "1.23 write_buffer_size={} block_size={} block_cache={} bloom_bits={} compression={}{}",
        options.write_buffer_size, options.block_size, config.cache_bytes, config.bloom_bits,
        config.compression == "none" ? "none" : "snappy",
        config.compression == "none" || config.compression == "snappy"
            ? ""
            : fmt::format(" (LevelDB has no {})", config.compression));
    return std::unique_ptr<BenchEngine>(std::move(engine));
  }

  Status put(std::string_view key, std::string_view value, bool sync) override {
    leveldb::WriteOptions options;
    options.sync = sync;
    return from_leveldb(db_->Put(options, lslice(key), lslice(value)));
  }

  Status get(std::string_view key, std::string* value, bool* found) override {
    leveldb::Status s = db_->Get(read_options_, lslice(key), value);
    *found = s.ok();
    if (s.IsNotFound()) return {};
    return from_leveldb(s);
  }

  std::unique_ptr<BenchIterator> new_iterator() override {
    return std::make_unique<LevelIterator>(db_->NewIterator(read_options_));
  }

  Status compact_all() override {
    // Synchronous in LevelDB: it returns once the range is compacted.
    db_->CompactRange(nullptr, nullptr);
    return {};
  }

  std::string describe() const override { return describe_; }

 private:
  std::unique_ptr<leveldb::Cache> cache_;
  std::unique_ptr<const leveldb::FilterPolicy> filter_;
  std::unique_ptr<leveldb::DB> db_;
  leveldb::ReadOptions read_options_;
  std::string describe_;
};

}  // namespace

bool is_engine_name(std::string_view name) {
  return name == "weaseldb" || name == "rocksdb" || name == "leveldb";
}

Result<std::unique_ptr<BenchEngine>> make_engine(std::string_view name,
                                                 const EngineConfig& config) {
  if (name == "weaseldb") return WeaselEngine::open(config);
  if (name == "rocksdb") return RocksEngine::open(config);
  if (name == "leveldb") return LevelEngine::open(config);
  return Status::invalid_argument(fmt::format("unknown engine '{}'", name));
}

}  // namespace weasel::bench
