#pragma once
// Bloom filter over the user keys of one SSTable (one filter per table, like RocksDB's full
// filters): a get() for a key the table does not hold skips its data blocks ~99% of the time
// at 10 bits per key.
//
// Format: bit array (whole bytes) | uint8 tag. Three probing schemes, told apart by the tag:
// - tag & 0xc0 == 0xc0 (written now): blocked. probe_count = tag & 0x3f; the bit array is
//   whole 64-byte lines; h = XXH3-64(user key) folded to 32 bits; every probe of a key is in
//   line h * line_count / 2^32, so a lookup touches one cache line instead of one per probe;
//   with p_0 = h * 0x9E3779B9 and p_{i+1} = p_i * 0x9E3779B9 (mod 2^32), probe i is bit
//   p_i >> 23 of that line. Filters written before it answer "maybe" to readers that
//   predate it (their probe count reads as 64 or more: unknown).
// - tag & 0xc0 == 0x80 (written before): probe_count = tag & 0x7f; h = XXH3-64(user key) folded to 32
//   bits, delta = h rotated right by 17; probe i sets bit ((h + i * delta) mod 2^32) *
//   bit_count / 2^32 (a multiply, no division; LevelDB's double hashing). bit_count < 2^32.
// - otherwise (written before that): probe_count = tag; h1 = low, h2 = high 32 bits of XXH3-64,
//   forced odd; probe i is bit (h1 + i * h2) mod bit_count.
//
// Contract
// - BloomBuilder::add() may repeat a key (versions of one key); finish() returns the filter.
// - bloom_may_contain() is false only for keys never added. It accepts any bytes as a filter:
//   one that is too short or has an unknown probe count answers true (no false negatives,
//   and a damaged filter is also caught by its block checksum).
// - BloomFilter is the same query for a filter read once (a table's): the tag is parsed at
//   construction, and a query is split in two (hash() then may_contain()) so that the
//   caller can do other work while the one line a blocked filter reads is on its way.
// - reserve(n) before the first add(), when at most n keys are coming (a memtable flush knows
//   its entry count): the filter is then sized for n keys up front and built as keys arrive,
//   instead of from 4-byte hashes collected until finish() (1.9 MB for a 64 MiB memtable,
//   alive with the filter at the end of a flush, when memory peaks). With n distinct keys
//   the filter is byte for byte the one the collecting builder makes; more keys than n only
//   fill it denser (more false positives, never a false negative).
//
// Ownership: the builder owns the hashes it collected or the filter it is building.
// BloomFilter borrows the filter's bytes, which must outlive it.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weaseldb::storage {

class BloomBuilder {
 public:
  explicit BloomBuilder(uint32_t bits_per_key);

  void reserve(size_t keys);
  void add(std::string_view user_key);
  std::string finish();
  size_t key_count() const { return keys_; }

 private:
  uint32_t bits_per_key_;
  uint32_t probes_;
  size_t keys_ = 0;
  uint32_t last_hash_ = 0;  // of the last key added (versions of a key arrive together)
  std::vector<uint32_t> hashes_;  // collected when not reserved
  std::string filter_;            // built in place when reserved: lines_ lines and the tag
  uint64_t lines_ = 0;
};

class BloomFilter {
 public:
  BloomFilter() = default;  // no filter: every key may be there
  explicit BloomFilter(std::string_view filter);

  // The key's hash, for may_contain(). Prefetches the line a blocked filter will read.
  uint64_t hash(std::string_view user_key) const;
  bool may_contain(uint64_t hash) const;

 private:
  enum class Scheme : uint8_t { kNone, kModulo, kFastRange, kBlocked };
  std::string_view bitmap_;
  uint32_t probes_ = 0;
  Scheme scheme_ = Scheme::kNone;
};

bool bloom_may_contain(std::string_view filter, std::string_view user_key);

}  // namespace weaseldb::storage
