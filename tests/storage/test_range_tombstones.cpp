// RangeTombstoneSet (fragmented range tombstones) and the merging iterator.

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "storage/memtable.hpp"
#include "storage/merging_iterator.hpp"
#include "storage/range_tombstones.hpp"
#include "storage_test_util.hpp"

namespace weaseldb::storage {
namespace {

TEST_CASE("range tombstones: fragments answer like a brute-force scan") {
  std::mt19937_64 rng(9);
  for (int round = 0; round < 50; ++round) {
    struct T {
      std::string b, e;
      SequenceNumber s;
    };
    std::vector<T> all;
    RangeTombstoneSet set;
    int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      std::string b = test::numbered("k", rng() % 40), e = test::numbered("k", rng() % 40);
      if (b == e) continue;
      if (e < b) std::swap(b, e);
      SequenceNumber s = 1 + rng() % 20;
      all.push_back({b, e, s});
      set.add(b, e, s);
    }
    set.finish();
    for (int k = 0; k < 45; ++k) {
      for (std::string key : {test::numbered("k", k), test::numbered("k", k) + "x"}) {
        SequenceNumber expected = 0;
        for (const T& t : all) {
          if (t.b <= key && key < t.e) expected = std::max(expected, t.s);
        }
        INFO("round " << round << " key " << key);
        REQUIRE(set.covering(key) == expected);
      }
    }
    CHECK(set.covering("") == 0);
  }
}

TEST_CASE("merging iterator: interleaves sources and switches direction") {
  MemTable a, b, c;
  std::vector<std::string> expected;
  for (SequenceNumber s = 1; s <= 300; ++s) {
    MemTable& target = s % 3 == 0 ? a : s % 3 == 1 ? b : c;
    std::string key = test::numbered("k", (s * 37) % 100);
    target.add(s, ValueType::kValue, key, "v");
  }
  std::vector<std::unique_ptr<InternalIterator>> children;
  children.push_back(a.new_iterator());
  children.push_back(b.new_iterator());
  children.push_back(c.new_iterator());
  auto merged = new_merging_iterator(std::move(children));
  std::vector<std::string> forward;
  for (merged->seek_to_first(); merged->valid(); merged->next()) {
    forward.emplace_back(merged->key());
  }
  REQUIRE(forward.size() == 300);
  for (size_t i = 0; i + 1 < forward.size(); ++i) {
    REQUIRE(compare_internal_keys(forward[i], forward[i + 1]) < 0);
  }
  std::vector<std::string> backward;
  for (merged->seek_to_last(); merged->valid(); merged->prev()) {
    backward.emplace_back(merged->key());
  }
  REQUIRE(std::vector<std::string>(backward.rbegin(), backward.rend()) == forward);
  // Zig-zag: next then prev returns to the same entry, from every position.
  merged->seek_to_first();
  for (size_t i = 0; i + 1 < forward.size(); ++i) {
    merged->next();
    merged->prev();
    REQUIRE(merged->key() == forward[i]);
    merged->next();
  }
  CHECK(merged->status().ok());
}

}  // namespace
}  // namespace weaseldb::storage
