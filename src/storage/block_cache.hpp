#pragma once
// BlockCache: a sharded cache of parsed, uncompressed SSTable blocks, shared by every table
// of a DB (Options::block_cache_bytes), so hot blocks skip the read, the checksum and the
// decompression.
//
// Contract
// - Keys are (table id, block offset); table ids come from next_table_id() (never 0) and are
//   never reused within the process, so a deleted table's blocks can never be served for
//   another.
// - The charge of an entry is its block's size (at most 4 GiB: blocks are); each shard evicts past capacity / kShards
//   with the CLOCK policy (an approximation of least recently used): a hit only sets the
//   entry's referenced bit, and eviction sweeps a hand over the entries, sparing (and
//   clearing) referenced ones. A hit under LRU moved a list node, which touched two more
//   cold nodes per lookup. A block handed out stays valid after eviction (shared).
// - Thread-safe: a mutex per shard.
// - hits()/misses() count lookups, for Statistics.
//
// Ownership: the cache shares ownership of the blocks it holds.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

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
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  // An open-addressing table with linear probing, at most half full, so a lookup usually
  // reads one slot; the CLOCK hand sweeps the same array.
  struct Slot {
    uint64_t table_id = 0;  // 0: empty
    uint64_t offset = 0;
    std::shared_ptr<const Block> block;
    const char* restarts = nullptr;  // block->restarts(), read without touching the block
    uint32_t charge = 0;             // block->size(), likewise
    bool referenced = false;
  };
  struct Shard {
    std::mutex mu;
    std::vector<Slot> slots;  // a power of two in size, or empty
    size_t count = 0;
    size_t hand = 0;
    size_t usage = 0;
    // Counted under mu (a plain load and store, no locked add on a line every reader shares);
    // atomic so that hits() and misses() can sum them without the locks.
    std::atomic<uint64_t> hits{0};
    std::atomic<uint64_t> misses{0};
  };

  static uint64_t hash(uint64_t table_id, uint64_t offset);
  Shard& shard_of(uint64_t h) { return shards_[h >> 60]; }
  static size_t find(const Shard& shard, uint64_t h, uint64_t table_id, uint64_t offset);
  static void grow(Shard& shard);
  static void place(Shard& shard, Slot slot);
  static void erase_at(Shard& shard, size_t i);
  // Evicts until the shard's usage is at most `limit`.
  void evict(Shard& shard, size_t limit);

  size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
};

}  // namespace weaseldb::storage
