#pragma once
// BlockCache: a sharded LRU cache of parsed, uncompressed SSTable blocks, shared by every
// table of a DB (Options::block_cache_bytes), so hot blocks skip the read, the checksum and
// the decompression.
//
// Contract
// - Keys are (table id, block offset); table ids come from next_table_id() and are never
//   reused within the process, so a deleted table's blocks can never be served for another.
// - The charge of an entry is its block's size; each shard evicts least recently used
//   entries past capacity / kShards. A block handed out stays valid after eviction (shared).
// - Thread-safe: a mutex per shard.
// - hits()/misses() count lookups, for Statistics.
//
// Ownership: the cache shares ownership of the blocks it holds.

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "storage/block.hpp"

namespace weaseldb::storage {

class BlockCache {
 public:
  static constexpr size_t kShards = 16;

  explicit BlockCache(size_t capacity_bytes);

  static uint64_t next_table_id();

  std::shared_ptr<const Block> lookup(uint64_t table_id, uint64_t offset);
  void insert(uint64_t table_id, uint64_t offset, std::shared_ptr<const Block> block);

  size_t usage_bytes() const;
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

 private:
  struct Key {
    uint64_t table_id;
    uint64_t offset;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return static_cast<size_t>((k.table_id * 0x9E3779B97F4A7C15ULL) ^ k.offset);
    }
  };
  struct Entry {
    Key key;
    std::shared_ptr<const Block> block;
  };
  struct Shard {
    std::mutex mu;
    std::list<Entry> lru;  // most recently used first
    std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> index;
    size_t usage = 0;
  };

  Shard& shard_of(const Key& k) { return shards_[KeyHash{}(k) % kShards]; }

  size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace weaseldb::storage
