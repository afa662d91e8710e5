#include "storage/block_cache.hpp"

namespace weaseldb::storage {

BlockCache::BlockCache(size_t capacity_bytes) : shard_capacity_(capacity_bytes / kShards) {}

uint64_t BlockCache::next_table_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::shared_ptr<const Block> BlockCache::lookup(uint64_t table_id, uint64_t offset) {
  Key key{table_id, offset};
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.index.find(key);
  if (it == shard.index.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  return it->second->block;
}

void BlockCache::insert(uint64_t table_id, uint64_t offset, std::shared_ptr<const Block> block) {
  Key key{table_id, offset};
  Shard& shard = shard_of(key);
  size_t charge = block->size();
  if (charge > shard_capacity_) return;  // would evict everything and still not fit
  std::lock_guard lock(shard.mu);
  auto found = shard.index.find(key);
  if (found != shard.index.end()) {  // a racing reader inserted it first
    shard.lru.splice(shard.lru.begin(), shard.lru, found->second);
    return;
  }
  shard.lru.push_front({key, std::move(block)});
  shard.index.emplace(key, shard.lru.begin());
  shard.usage += charge;
  while (shard.usage > shard_capacity_) {
    Entry& victim = shard.lru.back();
    shard.usage -= victim.block->size();
    shard.index.erase(victim.key);
    shard.lru.pop_back();
  }
}

size_t BlockCache::usage_bytes() const {
  size_t total = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(const_cast<std::mutex&>(shard.mu));
    total += shard.usage;
  }
  return total;
}

}  // namespace weaseldb::storage
