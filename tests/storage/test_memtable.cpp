// MemTable and its skiplist: versions, deletions, range tombstones, iteration in both
// directions, and readers racing a writer (run under TSan: label concurrency).

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <latch>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/memtable.hpp"

namespace weaseldb::storage {
namespace {

std::string key_of(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "key%08llu", static_cast<unsigned long long>(i));
  return buf;
}

// Built with snprintf: `value_of(i)` trips a g++ 12 -Wrestrict false positive.
std::string value_of(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "v%llu", static_cast<unsigned long long>(i));
  return buf;
}

TEST_CASE("memtable: get sees the newest version at or below the read sequence") {
  MemTable mem;
  mem.add(1, ValueType::kValue, "a", "a1");
  mem.add(2, ValueType::kValue, "b", "b2");
  mem.add(3, ValueType::kValue, "a", "a3");
  mem.add(4, ValueType::kDeletion, "a", "");
  mem.add(5, ValueType::kValue, "", "empty key");
  std::string value;
  auto get = [&](std::string_view key, SequenceNumber s) { return mem.get(LookupKey(key, s), &value); };

  CHECK(get("a", 0).kind == LookupResult::Kind::kNotFound);
  CHECK(get("a", 1).kind == LookupResult::Kind::kValue);
  CHECK(value == "a1");
  CHECK(get("a", 3).kind == LookupResult::Kind::kValue);
  CHECK(value == "a3");
  LookupResult deleted = get("a", 10);
  CHECK(deleted.kind == LookupResult::Kind::kDeleted);
  CHECK(deleted.sequence == 4);
  CHECK(get("b", 10).sequence == 2);
  CHECK(get("", 5).kind == LookupResult::Kind::kValue);
  CHECK(value == "empty key");
  CHECK(get("c", 10).kind == LookupResult::Kind::kNotFound);
  CHECK(get("a\x01", 10).kind == LookupResult::Kind::kNotFound);
  CHECK(mem.entry_count() == 5);
  CHECK(mem.memory_bytes() > 0);
}

TEST_CASE("memtable: range tombstones cover [begin, end) at their sequence") {
  MemTable mem;
  mem.add(3, ValueType::kRangeDeletion, "b", "d");
  mem.add(7, ValueType::kRangeDeletion, "a", "c");
  mem.add(9, ValueType::kRangeDeletion, "x", "y");
  CHECK(mem.range_tombstone_count() == 3);
  CHECK(mem.entry_count() == 0);
  CHECK(mem.covering_tombstone("b", 100) == 7);
  CHECK(mem.covering_tombstone("b", 6) == 3);
  CHECK(mem.covering_tombstone("b", 2) == 0);
  CHECK(mem.covering_tombstone("c", 100) == 3);  // end is exclusive for [a, c)
  CHECK(mem.covering_tombstone("d", 100) == 0);
  CHECK(mem.covering_tombstone("", 100) == 0);
  CHECK(mem.covering_tombstone("x\xff", 100) == 9);

  auto it = mem.new_range_tombstone_iterator();
  it->seek_to_first();
  REQUIRE(it->valid());
  CHECK(extract_user_key(it->key()) == "a");
  CHECK(it->value() == "c");
}

TEST_CASE("memtable: iterators walk internal keys in order, both ways, and seek") {
  MemTable mem;
  std::mt19937_64 rng(1);
  auto less = [](const std::string& a, const std::string& b) {
    return compare_internal_keys(a, b) < 0;
  };
  std::map<std::string, std::string, decltype(less)> expected(less);
  for (SequenceNumber s = 1; s <= 2000; ++s) {
    std::string key = key_of(rng() % 300);
    bool del = rng() % 5 == 0;
    std::string value = del ? "" : value_of(s);
    mem.add(s, del ? ValueType::kDeletion : ValueType::kValue, key, value);
    std::string ikey;
    append_internal_key(&ikey, key, s, del ? ValueType::kDeletion : ValueType::kValue);
    expected.emplace(ikey, value);
  }
  auto it = mem.new_iterator();
  it->seek_to_first();
  for (const auto& [k, v] : expected) {
    REQUIRE(it->valid());
    CHECK(it->key() == k);
    CHECK(it->value() == v);
    it->next();
  }
  CHECK_FALSE(it->valid());
  it->seek_to_last();
  for (auto e = expected.rbegin(); e != expected.rend(); ++e) {
    REQUIRE(it->valid());
    CHECK(it->key() == e->first);
    it->prev();
  }
  CHECK_FALSE(it->valid());
  for (int i = 0; i < 200; ++i) {
    LookupKey target(key_of(rng() % 320), rng() % 2100);
    it->seek(target.internal_key());
    auto e = expected.lower_bound(std::string(target.internal_key()));
    if (e == expected.end()) {
      CHECK_FALSE(it->valid());
    } else {
      REQUIRE(it->valid());
      CHECK(it->key() == e->first);
    }
  }
}

TEST_CASE("memtable: readers race one writer and see whole, ordered, published writes") {
  constexpr uint64_t kWrites = 20000;
  constexpr int kReaders = 3;
  MemTable mem;
  std::atomic<uint64_t> published{0};  // the writer's last finished sequence
  std::atomic<bool> failed{false};
  std::latch start(kReaders + 1);

  auto reader = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string value;
    start.arrive_and_wait();
    uint64_t seen = 0;
    // Each pass checks a bounded amount of work; the loop ends once the writer is done.
    while (seen < kWrites && !failed.load()) {
      seen = published.load(std::memory_order_acquire);
      if (seen == 0) continue;
      // Key i was written at sequence i + 1 with value "v<i>".
      uint64_t i = rng() % seen;
      auto r = mem.get(LookupKey(key_of(i), seen), &value);
      if (r.kind != LookupResult::Kind::kValue || value != value_of(i)) failed = true;
      // A short scan from a random key: ordered, and no published key missing.
      auto it = mem.new_iterator();
      LookupKey from(key_of(i), kMaxSequenceNumber);
      it->seek(from.internal_key());
      for (uint64_t j = i; j < std::min(seen, i + 20); ++j) {
        if (!it->valid() || extract_user_key(it->key()) != key_of(j)) {
          failed = true;
          break;
        }
        it->next();
      }
    }
  };
  std::vector<std::thread> threads;
  for (int r = 0; r < kReaders; ++r) threads.emplace_back(reader, 100 + r);
  start.arrive_and_wait();
  // Keys in a scrambled order so inserts land all over the list, sequence = position + 1;
  // `published` advances to the longest finished prefix of keys 0..n.
  std::vector<uint64_t> order(kWrites);
  for (uint64_t i = 0; i < kWrites; ++i) order[i] = i;
  for (uint64_t i = 0; i < kWrites; i += 64) {
    std::shuffle(order.begin() + i, order.begin() + std::min(kWrites, i + 64),
                 std::mt19937_64(i));
  }
  uint64_t max_inserted = 0;
  std::vector<bool> done(kWrites, false);
  uint64_t prefix = 0;
  for (uint64_t i : order) {
    mem.add(i + 1, ValueType::kValue, key_of(i), value_of(i));
    done[i] = true;
    max_inserted = std::max(max_inserted, i + 1);
    while (prefix < kWrites && done[prefix]) ++prefix;
    published.store(prefix, std::memory_order_release);
  }
  for (std::thread& t : threads) t.join();
  CHECK_FALSE(failed.load());
  CHECK(max_inserted == kWrites);
  CHECK(mem.entry_count() == kWrites);
}

}  // namespace
}  // namespace weaseldb::storage

namespace weaseldb::storage {
namespace {

TEST_CASE("memtable arena: blocks start at multiples of their size; big requests map alone") {
  MemTableArena arena;
  constexpr size_t kChunk = 1000;
  auto at = [](const void* p) { return reinterpret_cast<uintptr_t>(p); };
  char* first = static_cast<char*>(arena.allocate(kChunk, 8));
  CHECK(at(first) % MemTableArena::kBlockBytes == 0);  // a huge page can back the block
  std::memset(first, 1, kChunk);
  // Fill the block: allocations follow each other until one does not fit, which starts a
  // new aligned block. The second is left with less than a quarter of a block free.
  size_t per_block = MemTableArena::kBlockBytes / kChunk;
  size_t count = per_block + (MemTableArena::kBlockBytes * 7 / 8) / kChunk;
  char* end = first + kChunk;
  size_t blocks = 1;
  for (size_t i = 1; i < count; ++i) {
    char* p = static_cast<char*>(arena.allocate(kChunk, 8));
    std::memset(p, 2, kChunk);
    if (p != end) {
      CHECK(at(p) % MemTableArena::kBlockBytes == 0);
      ++blocks;
    }
    end = p + kChunk;
  }
  CHECK(blocks == 2);
  // A request above a quarter of a block that does not fit gets a mapping of its own: the
  // current block keeps its free space for the next small one.
  size_t big = MemTableArena::kBlockBytes / 4 + 1;
  char* large = static_cast<char*>(arena.allocate(big, 8));
  std::memset(large, 3, big);
  CHECK((large + big <= first || large >= first + MemTableArena::kBlockBytes));
  char* next = static_cast<char*>(arena.allocate(16, 16));
  CHECK(at(next) % 16 == 0);
  CHECK(next >= end);
  CHECK(next < end + 16);
  CHECK(first[0] == 1);
  CHECK(arena.bytes_used() >= count * kChunk + big + 16);
}

}  // namespace
}  // namespace weaseldb::storage
