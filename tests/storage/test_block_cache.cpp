// BlockCache: every hit returns the block inserted under that key, usage stays within the
// capacity and equals what is cached, entries hit since the hand last passed outlive those
// that were not, and the newest block survives its own insertion.

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>

#include "storage/block.hpp"
#include "storage/block_builder.hpp"
#include "storage/block_cache.hpp"
#include "storage/internal_key.hpp"

namespace weaseldb::storage {
namespace {

std::shared_ptr<const Block> make_block(uint64_t tag, size_t value_bytes) {
  BlockBuilder builder(16);
  std::string key = "k";
  key.append(std::to_string(tag));
  append_internal_key(&key, "", tag, ValueType::kValue);
  builder.add(key, std::string(value_bytes, 'v'));
  return Block::parse(std::string(builder.finish())).value();
}

TEST_CASE("block cache: hits are the inserted blocks, usage within capacity") {
  constexpr size_t kCapacity = BlockCache::kShards * 20000;
  BlockCache cache(kCapacity);
  std::map<std::pair<uint64_t, uint64_t>, std::shared_ptr<const Block>> inserted;
  std::mt19937_64 rng(11);
  size_t hits = 0;
  size_t inserts = 0;
  for (int step = 0; step < 20000; ++step) {
    uint64_t table = 1 + rng() % 5;
    uint64_t offset = (rng() % 400) * 4096;
    auto key = std::make_pair(table, offset);
    auto found = cache.lookup(table, offset);
    if (found != nullptr) {
      ++hits;
      REQUIRE(inserted.count(key) == 1);
      CHECK(found == inserted[key]);  // the same block, never another key's
    } else {
      auto block = make_block(step, 100 + rng() % 3000);
      inserted[key] = block;
      cache.insert(table, offset, block);
      ++inserts;
      CHECK(cache.lookup(table, offset) == block);  // the newest survives its insertion
    }
    CHECK(cache.usage_bytes() <= kCapacity);
  }
  CHECK(hits > 1000);
  // Every lookup counted once: the loop's own, plus the check after each insert (a hit).
  CHECK(cache.hits() == hits + inserts);
  CHECK(cache.misses() == inserts);
  CHECK(cache.usage_bytes() > kCapacity / 2);
}

TEST_CASE("block cache: entries hit since the last sweep outlive the others") {
  // The hot keys are hit between every two inserts, so the hand always finds them
  // referenced and takes the cold ones (~38 blocks fit in a shard).
  constexpr size_t kCapacity = BlockCache::kShards * 40000;
  BlockCache cache(kCapacity);
  auto block = make_block(0, 1000);
  for (uint64_t hot = 0; hot < 16; ++hot) cache.insert(1, hot, block);
  for (uint64_t cold = 100; cold < 5000; ++cold) {
    for (uint64_t hot = 0; hot < 16; ++hot) REQUIRE(cache.lookup(1, hot) != nullptr);
    cache.insert(1, cold, block);
  }
  CHECK(cache.lookup(1, 100) == nullptr);  // long gone
}

TEST_CASE("block cache: a block larger than a shard is not cached") {
  BlockCache cache(BlockCache::kShards * 1000);
  cache.insert(1, 0, make_block(1, 5000));
  CHECK(cache.lookup(1, 0) == nullptr);
  CHECK(cache.usage_bytes() == 0);
}

}  // namespace
}  // namespace weaseldb::storage
