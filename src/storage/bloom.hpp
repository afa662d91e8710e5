#pragma once
// Bloom filter over the user keys of one SSTable (one filter per table, like RocksDB's full
// filters): a get() for a key the table does not hold skips its data blocks ~99% of the time
// at 10 bits per key.
//
// Format: bit array (whole bytes) | uint8 probe_count.
// Probes use double hashing of XXH3-64(user key): bit_i = (h1 + i * h2) mod bit_count.
//
// Contract
// - BloomBuilder::add() may repeat a key (versions of one key); finish() returns the filter.
// - bloom_may_contain() is false only for keys never added. It accepts any bytes as a filter:
//   one that is too short or has an unknown probe count answers true (no false negatives,
//   and a damaged filter is also caught by its block checksum).
//
// Ownership: the builder owns the hashes it collected (8 bytes per distinct key).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weaseldb::storage {

class BloomBuilder {
 public:
  explicit BloomBuilder(uint32_t bits_per_key);

  void add(std::string_view user_key);
  std::string finish();
  size_t key_count() const { return hashes_.size(); }

 private:
  uint32_t bits_per_key_;
  std::vector<uint64_t> hashes_;
};

bool bloom_may_contain(std::string_view filter, std::string_view user_key);

}  // namespace weaseldb::storage
