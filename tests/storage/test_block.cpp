// SSTable blocks, bloom filters and block compression.

#include <doctest/doctest.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "storage/block.hpp"
#include "storage/block_builder.hpp"
#include "storage/bloom.hpp"
#include "storage/coding.hpp"
#include "storage/compression.hpp"
#include "storage/internal_key.hpp"
#include "storage_test_util.hpp"

namespace weaseldb::storage {
namespace {

using test::ikey;

std::vector<std::pair<std::string, std::string>> sorted_entries(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < n; ++i) {
    // Shared prefixes of varying length, so prefix compression has work to do.
    char user[40];
    std::snprintf(user, sizeof(user), "user/%04zu/%s", i / 3, i % 3 == 0 ? "a" : "bb");
    out.emplace_back(ikey(user, 1000 - i % 3), test::random_bytes(rng, rng() % 40));
  }
  return out;
}

std::shared_ptr<const Block> build(const std::vector<std::pair<std::string, std::string>>& entries,
                                   uint32_t restart_interval) {
  BlockBuilder builder(restart_interval);
  for (const auto& [k, v] : entries) builder.add(k, v);
  auto block = Block::parse(std::string(builder.finish()));
  REQUIRE(block.ok());
  return block.value();
}

TEST_CASE("block: every restart interval walks, seeks and steps back exactly") {
  auto entries = sorted_entries(500, 3);
  for (uint32_t interval : {1u, 2u, 16u, 1000u}) {
    INFO("restart interval " << interval);
    auto block = build(entries, interval);
    CHECK(block->restart_count() == (entries.size() + interval - 1) / interval);
    auto it = block->new_iterator();
    it->seek_to_first();
    for (const auto& [k, v] : entries) {
      REQUIRE(it->valid());
      CHECK(it->key() == k);
      CHECK(it->value() == v);
      it->next();
    }
    CHECK_FALSE(it->valid());
    it->seek_to_last();
    for (auto e = entries.rbegin(); e != entries.rend(); ++e) {
      REQUIRE(it->valid());
      CHECK(it->key() == e->first);
      it->prev();
    }
    CHECK_FALSE(it->valid());
    CHECK(it->status().ok());
    for (size_t i = 0; i < entries.size(); i += 7) {
      it->seek(entries[i].first);
      REQUIRE(it->valid());
      CHECK(it->key() == entries[i].first);
      // Between two keys (same user key, a sequence in between): lands on the next one.
      ParsedInternalKey p;
      REQUIRE(parse_internal_key(entries[i].first, &p));
      it->seek(ikey(p.user_key, p.sequence - 1));
      if (i + 1 < entries.size()) {
        REQUIRE(it->valid());
        CHECK(it->key() == entries[i + 1].first);
      }
    }
    it->seek(ikey("zzz", 1));
    CHECK_FALSE(it->valid());
    it->seek(ikey("", 1));
    REQUIRE(it->valid());
    CHECK(it->key() == entries.front().first);
  }
}

TEST_CASE("block: seeks by restart key ranks land where a scan does") {
  // Keys over a shared stem from a small alphabet, so that restart keys tie on their ranks,
  // end inside the stem, or do not share it; blocks of up to 32 restarts are ranked.
  std::mt19937_64 rng(21);
  for (int round = 0; round < 60; ++round) {
    std::string stem(rng() % 20, 'm');
    std::set<std::string> users;
    size_t n = 1 + rng() % 120;
    while (users.size() < n) {
      std::string u = rng() % 10 == 0 ? std::string(1, static_cast<char>('a' + rng() % 26)) : stem;
      for (size_t j = rng() % 12; j > 0; --j) u.push_back(static_cast<char>('a' + rng() % 3));
      users.insert(u);
    }
    std::vector<std::pair<std::string, std::string>> entries;
    for (const std::string& u : users) entries.emplace_back(ikey(u, 7), "v");
    uint32_t interval = 1 + static_cast<uint32_t>(rng() % 6);
    auto block = build(entries, interval);
    BlockIter it(*block);
    for (int probe = 0; probe < 100; ++probe) {
      std::string u = rng() % 2 == 0 ? stem.substr(0, rng() % (stem.size() + 1)) : stem;
      for (size_t j = rng() % 13; j > 0; --j) u.push_back(static_cast<char>('a' - 1 + rng() % 5));
      std::string target = ikey(u, rng() % 10);
      auto expected = std::find_if(entries.begin(), entries.end(), [&](const auto& e) {
        return compare_internal_keys(e.first, target) >= 0;
      });
      it.seek(target);
      if (expected == entries.end()) {
        CHECK_FALSE(it.valid());
      } else {
        REQUIRE(it.valid());
        CHECK(it.key() == expected->first);
      }
    }
    CHECK(it.status().ok());
  }
}

TEST_CASE("block: an empty block iterates nothing") {
  BlockBuilder builder(16);
  auto block = Block::parse(std::string(builder.finish()));
  REQUIRE(block.ok());
  auto it = block.value()->new_iterator();
  it->seek_to_first();
  CHECK_FALSE(it->valid());
  it->seek_to_last();
  CHECK_FALSE(it->valid());
  it->seek(ikey("a", 1));
  CHECK_FALSE(it->valid());
  CHECK(it->status().ok());
}

// Walks everything a block offers; parse errors must surface as corruption.
Status walk(std::string bytes) {
  auto block = Block::parse(std::move(bytes));
  if (!block.ok()) return block.status();
  auto it = block.value()->new_iterator();
  for (it->seek_to_first(); it->valid(); it->next()) {
  }
  if (!it->status().ok()) return it->status();
  for (it->seek_to_last(); it->valid(); it->prev()) {
  }
  if (!it->status().ok()) return it->status();
  it->seek(ikey("user/0050/a", 5));
  return it->status();
}

TEST_CASE("block: truncated or damaged bytes never crash and never pass as another block") {
  auto entries = sorted_entries(60, 4);
  BlockBuilder builder(4);
  for (const auto& [k, v] : entries) builder.add(k, v);
  std::string bytes(builder.finish());
  for (size_t n = 0; n < bytes.size(); ++n) {
    Status s = walk(bytes.substr(0, n));
    // A prefix can parse by chance (its last 4 bytes read as a small restart count), but
    // then it must not decode past its own end: ASan checks that.
    if (!s.ok()) CHECK(s.code() == StatusCode::kCorruption);
  }
  std::mt19937_64 rng(5);
  for (size_t offset = 0; offset < bytes.size(); ++offset) {
    std::string damaged = bytes;
    damaged[offset] = static_cast<char>(rng());
    Status s = walk(damaged);
    if (!s.ok()) CHECK(s.code() == StatusCode::kCorruption);
  }
  std::string huge_count = bytes;
  put_fixed32(huge_count.data() + huge_count.size() - 4, 0xffffffff);
  CHECK(Block::parse(huge_count).status().code() == StatusCode::kCorruption);
}

// Built with snprintf: `numbered("key", i)` trips a g++ 12 -Wrestrict false positive.
std::string numbered(const char* prefix, int i) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s%d", prefix, i);
  return buf;
}

TEST_CASE("bloom: no false negatives, and about 1% false positives at 10 bits per key") {
  BloomBuilder builder(10);
  for (int i = 0; i < 10000; ++i) builder.add(numbered("key", i));
  builder.add("key9999");  // a repeated key is counted once
  CHECK(builder.key_count() == 10000);
  std::string filter = builder.finish();
  for (int i = 0; i < 10000; ++i) REQUIRE(bloom_may_contain(filter, numbered("key", i)));
  int false_positives = 0;
  for (int i = 0; i < 10000; ++i) false_positives += bloom_may_contain(filter, numbered("other", i));
  CHECK(false_positives < 200);
  CHECK(bloom_may_contain("", "anything"));  // no usable filter: no false negative
  BloomFilter none;
  CHECK(none.may_contain(none.hash("anything")));
}

TEST_CASE("bloom: a reserved builder makes the same filter in place") {
  // A flush reserves its entry count: the filter is built as keys arrive, and must come out
  // as the collecting builder's, versions of one key counted once either way.
  BloomBuilder collected(10);
  BloomBuilder in_place(10);
  in_place.reserve(3000);
  for (int i = 0; i < 3000; ++i) {
    for (int version = 0; version < 1 + i % 3; ++version) {
      collected.add(numbered("key", i));
      in_place.add(numbered("key", i));
    }
  }
  CHECK(in_place.key_count() == 3000);
  std::string a = collected.finish();
  std::string b = in_place.finish();
  CHECK(a.size() == 3000 * 10 / 8 / 64 * 64 + 64 + 1);
  CHECK(a == b);
  // More keys than reserved: denser, still no false negative.
  BloomBuilder short_reserve(10);
  short_reserve.reserve(100);
  for (int i = 0; i < 1000; ++i) short_reserve.add(numbered("key", i));
  std::string dense = short_reserve.finish();
  CHECK(dense.size() == 2 * 64 + 1);
  for (int i = 0; i < 1000; ++i) REQUIRE(bloom_may_contain(dense, numbered("key", i)));
}

// What both earlier filter formats share: bits_per_key * 0.69 probes, a bit array of
// bits_per_key bits per key (64 at least) in whole bytes, and a tag byte, tag_high | probes.
// probe_bits(XXH3-64 of a key, probes, bit count, set) calls set(bit) for each probe.
template <class ProbeBits>
std::string old_format_filter(const std::vector<std::string>& keys, uint32_t bits_per_key,
                              uint8_t tag_high, ProbeBits probe_bits) {
  uint32_t probes = bits_per_key * 69 / 100;
  uint64_t bits = std::max<uint64_t>(64, uint64_t{bits_per_key} * keys.size());
  uint64_t bytes = (bits + 7) / 8;
  bits = bytes * 8;
  std::string filter(bytes + 1, '\0');
  auto set = [&filter](uint64_t bit) {
    filter[bit / 8] = static_cast<char>(filter[bit / 8] | (1 << (bit % 8)));
  };
  for (const std::string& key : keys) {
    probe_bits(XXH3_64bits(key.data(), key.size()), probes, bits, set);
  }
  filter[bytes] = static_cast<char>(tag_high | probes);
  return filter;
}

// A filter as tables written before the multiply-shift probes hold (tag = probe count):
// bit (h1 + i * h2) mod bit_count of XXH3-64.
std::string modulo_filter(const std::vector<std::string>& keys, uint32_t bits_per_key) {
  return old_format_filter(keys, bits_per_key, 0,
                           [](uint64_t h, uint32_t probes, uint64_t bits, auto set) {
                             uint64_t h1 = h & 0xffffffff;
                             uint64_t h2 = (h >> 32) | 1;
                             for (uint32_t i = 0; i < probes; ++i) set((h1 + i * h2) % bits);
                           });
}

// A filter as tables written before blocked filters hold (tag 0x80 | probe count): h =
// XXH3-64 folded to 32 bits, probe i sets bit (h + i * rotr(h, 17)) * bit_count / 2^32.
std::string fast_range_filter(const std::vector<std::string>& keys, uint32_t bits_per_key) {
  return old_format_filter(keys, bits_per_key, 0x80,
                           [](uint64_t h64, uint32_t probes, uint64_t bits, auto set) {
                             auto h = static_cast<uint32_t>(h64 ^ (h64 >> 32));
                             uint32_t delta = (h >> 17) | (h << 15);
                             for (uint32_t i = 0; i < probes; ++i) {
                               set((uint64_t{h} * bits) >> 32);
                               h += delta;
                             }
                           });
}

TEST_CASE("bloom: filters of the earlier formats still answer") {
  std::vector<std::string> keys;
  for (int i = 0; i < 5000; ++i) keys.push_back(numbered("old", i));
  std::string filter = modulo_filter(keys, 10);
  REQUIRE(static_cast<uint8_t>(filter.back()) == 6);
  for (const std::string& key : keys) REQUIRE(bloom_may_contain(filter, key));
  int false_positives = 0;
  for (int i = 0; i < 5000; ++i) false_positives += bloom_may_contain(filter, numbered("new", i));
  CHECK(false_positives < 100);
  // The multiply-shift format that came next, on the same keys: still answers.
  std::string fast = fast_range_filter(keys, 10);
  CHECK(static_cast<uint8_t>(fast.back()) == (0x80 | 6));
  for (const std::string& key : keys) REQUIRE(bloom_may_contain(fast, key));
  false_positives = 0;
  for (int i = 0; i < 5000; ++i) false_positives += bloom_may_contain(fast, numbered("new", i));
  CHECK(false_positives < 100);
  // The blocked format written now: tagged, whole cache lines, and about as selective.
  BloomBuilder builder(10);
  for (const std::string& key : keys) builder.add(key);
  std::string blocked = builder.finish();
  CHECK(static_cast<uint8_t>(blocked.back()) == (0xc0 | 6));
  CHECK((blocked.size() - 1) % 64 == 0);
  CHECK(blocked.size() - 1 >= 5000 * 10 / 8);
  for (const std::string& key : keys) REQUIRE(bloom_may_contain(blocked, key));
  false_positives = 0;
  for (int i = 0; i < 5000; ++i) false_positives += bloom_may_contain(blocked, numbered("new", i));
  CHECK(false_positives < 100);
  // An unknown probe count in any format: no usable filter, no false negative.
  fast.back() = static_cast<char>(0x80 | 31);
  CHECK(bloom_may_contain(fast, "anything"));
  fast.back() = static_cast<char>(0x80);
  CHECK(bloom_may_contain(fast, "anything"));
  blocked.back() = static_cast<char>(0xc0);
  CHECK(bloom_may_contain(blocked, "anything"));
  blocked.back() = static_cast<char>(0xc0 | 6);
  blocked.pop_back();
  blocked.back() = static_cast<char>(0xc0 | 6);  // not whole lines
  CHECK(bloom_may_contain(blocked, "anything"));
}

TEST_CASE("compression: every codec round-trips and rejects garbage") {
  std::mt19937_64 rng(6);
  std::string text = test::compressible_bytes(rng, 20000);
  std::string noise = test::random_bytes(rng, 5000);
  for (Compression type : {Compression::kLz4, Compression::kZstd, Compression::kSnappy}) {
    INFO(compression_name(type));
    std::string packed;
    REQUIRE(compress(type, 0, text, &packed));
    CHECK(packed.size() < text.size() / 2);
    std::string unpacked;
    REQUIRE(uncompress(type, packed, &unpacked).ok());
    CHECK(unpacked == text);
    CHECK_FALSE(compress(type, 0, noise, &packed));  // would not shrink: stored raw
    for (size_t cut : {size_t{0}, size_t{1}, packed.size() / 2}) {
      REQUIRE(compress(type, 0, text, &packed));
      Status s = uncompress(type, std::string_view(packed).substr(0, cut), &unpacked);
      CHECK(s.code() == StatusCode::kCorruption);
    }
  }
  std::string out;
  CHECK_FALSE(compress(Compression::kNone, 0, text, &out));
}

// The per-thread pool of block buffers (block_bytes.hpp): a freed buffer serves the next
// allocation of about its size on its thread, never one it would overcharge, and the pool
// stays bounded.
TEST_CASE("block bytes: freed buffers are reused by like-sized allocations, boundedly") {
  BlockBytes::free_kept_on_this_thread();  // what earlier tests' block reads left
  CHECK(BlockBytes::kept_on_this_thread() == 0);
  const char* first = nullptr;
  {
    BlockBytes a = BlockBytes::allocate(16000);
    first = a.data();
    CHECK(a.size() == 16000);
    std::memset(a.data(), 'x', a.size());
  }
  BlockBytes b = BlockBytes::allocate(15900);  // within 1/16 of the freed one
  CHECK(b.size() == 15900);
  if (BlockBytes::kPooling) {
    CHECK(b.data() == first);
    CHECK(b.capacity() == 16000);
    CHECK(BlockBytes::kept_on_this_thread() == 0);
  }
  b.set_size(b.capacity());
  CHECK(b.size() == (BlockBytes::kPooling ? 16000u : 15900u));
  b = BlockBytes();  // released: kept again
  BlockBytes small = BlockBytes::allocate(8000);  // far smaller: not served by the kept one
  CHECK(small.capacity() == 8000);
  CHECK(BlockBytes::kept_on_this_thread() == (BlockBytes::kPooling ? 1u : 0u));

  std::vector<BlockBytes> many;
  for (size_t i = 0; i < 3 * BlockBytes::kPoolBuffers; ++i) {
    many.push_back(BlockBytes::allocate(1000 + 100 * i));
  }
  many.clear();
  CHECK(BlockBytes::kept_on_this_thread() <= BlockBytes::kPoolBuffers);
  {
    BlockBytes huge = BlockBytes::allocate(BlockBytes::kMaxPooledBytes + 1);
  }
  CHECK(BlockBytes::kept_on_this_thread() <= BlockBytes::kPoolBuffers);

  // Moves leave the source empty; a buffer freed on another thread is that thread's to keep
  // (and to free when it exits).
  BlockBytes moved = BlockBytes::allocate(4096);
  BlockBytes to = std::move(moved);
  CHECK(moved.data() == nullptr);
  CHECK(to.size() == 4096);
  std::thread([bytes = std::move(to)]() mutable {
    bytes = BlockBytes();
    CHECK(BlockBytes::kept_on_this_thread() == (BlockBytes::kPooling ? 1u : 0u));
  }).join();
}

}  // namespace
}  // namespace weaseldb::storage
