// TableIndex: the flat index must find exactly the entry a BlockIter seek on the index block
// finds, for separators that share long prefixes, tie on their 8-byte prefixes, are shorter
// than the shared prefix's end, and for targets before, between, on and after them.

#include <doctest/doctest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "storage/block.hpp"
#include "storage/block_builder.hpp"
#include "storage/internal_key.hpp"
#include "storage/table_index.hpp"
#include "storage_test_util.hpp"

namespace weaseldb::storage {
namespace {

using test::ikey;

std::string handle_bytes(uint64_t offset, uint64_t size) {
  std::string out;
  BlockHandle{offset, size}.encode_to(&out);
  return out;
}

// Builds an index block over `keys` (sorted internal keys) and checks TableIndex against a
// BlockIter on it for every key and for `probes`.
void check_against_block(const std::vector<std::string>& keys,
                         const std::vector<std::string>& probes) {
  BlockBuilder builder(1);
  for (size_t i = 0; i < keys.size(); ++i) builder.add(keys[i], handle_bytes(i * 100, 90 + i));
  auto block = Block::parse(builder.finish()).value();
  Result<TableIndex> index = TableIndex::build(*block);
  REQUIRE(index.ok());
  REQUIRE(index.value().size() == keys.size());
  BlockIter reference(*block);
  auto check = [&](const std::string& target) {
    reference.seek(target);
    size_t expected = keys.size();
    if (reference.valid()) {
      for (size_t i = 0; i < keys.size(); ++i) {
        if (keys[i] == reference.key()) expected = i;
      }
    }
    size_t found = index.value().seek(target);
    CHECK(found == expected);
    if (found < keys.size()) {
      CHECK(index.value().key(found) == keys[found]);
      CHECK(index.value().handle(found).offset == found * 100);
      CHECK(index.value().handle(found).size == 90 + found);
    }
  };
  for (const std::string& k : keys) check(k);
  for (const std::string& p : probes) check(p);
}

TEST_CASE("table index: shared prefixes, prefix ties and short keys match a block seek") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 40; ++round) {
    // Keys from a small alphabet over a shared stem, so that 8-byte prefixes tie often and
    // some keys end inside the stem's neighbourhood.
    std::string stem(static_cast<size_t>(rng() % 12), 'a');
    std::set<std::string> user_keys;
    size_t count = 1 + rng() % 60;
    while (user_keys.size() < count) {
      std::string k = stem;
      size_t extra = rng() % 20;
      for (size_t j = 0; j < extra; ++j) k.push_back(static_cast<char>('a' + rng() % 3));
      if (rng() % 8 == 0) k.push_back('\0');
      user_keys.insert(k);
    }
    // Separators that share nothing with the rest, as a table's last one often is (the short
    // successor of its last key) and its first one may be.
    if (round % 3 == 0) user_keys.insert("z");
    if (round % 5 == 0) user_keys.insert(std::string(1, '\0'));
    std::vector<std::string> keys;
    for (const std::string& k : user_keys) {
      keys.push_back(ikey(k, 100));
      if (rng() % 4 == 0) keys.push_back(ikey(k, 50));  // same user key, older entry
    }
    std::vector<std::string> probes;
    for (int j = 0; j < 200; ++j) {
      std::string k = rng() % 2 == 0 ? stem.substr(0, rng() % (stem.size() + 1)) : stem;
      size_t extra = rng() % 22;
      for (size_t e = 0; e < extra; ++e) k.push_back(static_cast<char>('a' - 1 + rng() % 5));
      probes.push_back(ikey(k, rng() % 150));
    }
    probes.push_back(ikey("", 1));
    probes.push_back(ikey(std::string(30, 'z'), 1));
    check_against_block(keys, probes);
  }
}

TEST_CASE("table index: an empty index finds nothing") {
  BlockBuilder builder(1);
  auto block = Block::parse(builder.finish()).value();
  Result<TableIndex> index = TableIndex::build(*block);
  REQUIRE(index.ok());
  CHECK(index.value().size() == 0);
  CHECK(index.value().seek(ikey("a", 1)) == 0);
}

TEST_CASE("table index: a bad block handle is corruption") {
  BlockBuilder builder(1);
  builder.add(ikey("a", 1), "\xff");
  auto block = Block::parse(builder.finish()).value();
  Result<TableIndex> index = TableIndex::build(*block);
  REQUIRE(!index.ok());
  CHECK(index.status().code() == StatusCode::kCorruption);
}

}  // namespace
}  // namespace weaseldb::storage
