#include "storage/bloom.hpp"

#include <xxhash.h>

#include <algorithm>

#include "core/assert.hpp"

namespace weaseldb::storage {

namespace {

constexpr uint32_t kMaxProbes = 30;

uint64_t key_hash(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

}  // namespace

BloomBuilder::BloomBuilder(uint32_t bits_per_key) : bits_per_key_(bits_per_key) {
  WEASEL_ASSERT(bits_per_key >= 1);
}

void BloomBuilder::add(std::string_view user_key) {
  uint64_t h = key_hash(user_key);
  // Versions of a key arrive together (sorted input): count the key once.
  if (hashes_.empty() || hashes_.back() != h) hashes_.push_back(h);
}

std::string BloomBuilder::finish() {
  // ln(2) * bits per key probes minimizes the false-positive rate.
  uint32_t probes = std::clamp<uint32_t>(bits_per_key_ * 69 / 100, 1, kMaxProbes);
  uint64_t bits = std::max<uint64_t>(64, uint64_t{bits_per_key_} * hashes_.size());
  uint64_t bytes = (bits + 7) / 8;
  bits = bytes * 8;
  std::string filter(bytes + 1, '\0');
  for (uint64_t h : hashes_) {
    uint64_t h1 = h & 0xffffffff;
    uint64_t h2 = (h >> 32) | 1;  // odd: the probes never repeat one bit
    for (uint32_t i = 0; i < probes; ++i) {
      uint64_t bit = (h1 + i * h2) % bits;
      filter[bit / 8] = static_cast<char>(filter[bit / 8] | (1 << (bit % 8)));
    }
  }
  filter[bytes] = static_cast<char>(probes);
  hashes_.clear();
  return filter;
}

bool bloom_may_contain(std::string_view filter, std::string_view user_key) {
  if (filter.size() < 2) return true;
  uint32_t probes = static_cast<uint8_t>(filter.back());
  if (probes == 0 || probes > kMaxProbes) return true;
  uint64_t bits = (filter.size() - 1) * 8;
  uint64_t h = key_hash(user_key);
  uint64_t h1 = h & 0xffffffff;
  uint64_t h2 = (h >> 32) | 1;
  for (uint32_t i = 0; i < probes; ++i) {
    uint64_t bit = (h1 + i * h2) % bits;
    if ((filter[bit / 8] & (1 << (bit % 8))) == 0) return false;
  }
  return true;
}

}  // namespace weaseldb::storage
