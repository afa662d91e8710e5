#include "storage/bloom.hpp"

#include <xxhash.h>

#include <algorithm>

#include "core/assert.hpp"

namespace weaseldb::storage {

namespace {

constexpr uint32_t kMaxProbes = 30;
constexpr uint8_t kFastRangeTag = 0x80;
// Bit positions must fit the 32-bit multiply-shift: the filter stays under 512 MiB (and a
// table with more keys than that only sees more false positives).
constexpr uint64_t kMaxBits = (uint64_t{1} << 32) - 8;

uint64_t key_hash(std::string_view key) {
  return XXH3_64bits(key.data(), key.size());
}

uint32_t key_hash32(std::string_view key) {
  uint64_t h = key_hash(key);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

// Maps a 32-bit probe onto [0, bits) with a multiply instead of a 64-bit division, which
// cost ~25 cycles per probe, six probes per lookup and per key built.
inline uint64_t fast_range(uint32_t probe, uint64_t bits) {
  return (uint64_t{probe} * bits) >> 32;
}

inline uint32_t probe_delta(uint32_t h) {
  return (h >> 17) | (h << 15);
}

bool may_contain_modulo(std::string_view bitmap, uint32_t probes, std::string_view user_key) {
  uint64_t bits = bitmap.size() * 8;
  uint64_t h = key_hash(user_key);
  uint64_t h1 = h & 0xffffffff;
  uint64_t h2 = (h >> 32) | 1;
  for (uint32_t i = 0; i < probes; ++i) {
    uint64_t bit = (h1 + i * h2) % bits;
    if ((bitmap[bit / 8] & (1 << (bit % 8))) == 0) return false;
  }
  return true;
}

}  // namespace

BloomBuilder::BloomBuilder(uint32_t bits_per_key) : bits_per_key_(bits_per_key) {
  WEASEL_ASSERT(bits_per_key >= 1);
}

void BloomBuilder::add(std::string_view user_key) {
  uint32_t h = key_hash32(user_key);
  // Versions of a key arrive together (sorted input): count the key once.
  if (hashes_.empty() || hashes_.back() != h) hashes_.push_back(h);
}

std::string BloomBuilder::finish() {
  // ln(2) * bits per key probes minimizes the false-positive rate.
  uint32_t probes = std::clamp<uint32_t>(bits_per_key_ * 69 / 100, 1, kMaxProbes);
  uint64_t bits = std::max<uint64_t>(64, uint64_t{bits_per_key_} * hashes_.size());
  bits = std::min(bits, kMaxBits);
  uint64_t bytes = (bits + 7) / 8;
  bits = bytes * 8;
  std::string filter(bytes + 1, '\0');
  for (uint32_t h : hashes_) {
    uint32_t delta = probe_delta(h);
    for (uint32_t i = 0; i < probes; ++i) {
      uint64_t bit = fast_range(h, bits);
      filter[bit / 8] = static_cast<char>(filter[bit / 8] | (1 << (bit % 8)));
      h += delta;
    }
  }
  filter[bytes] = static_cast<char>(kFastRangeTag | probes);
  hashes_.clear();
  hashes_.shrink_to_fit();  // a builder may live on while its table is written out
  return filter;
}

bool bloom_may_contain(std::string_view filter, std::string_view user_key) {
  if (filter.size() < 2) return true;
  auto tag = static_cast<uint8_t>(filter.back());
  std::string_view bitmap = filter.substr(0, filter.size() - 1);
  if ((tag & kFastRangeTag) == 0) {
    if (tag == 0 || tag > kMaxProbes) return true;
    return may_contain_modulo(bitmap, tag, user_key);
  }
  uint32_t probes = tag & ~kFastRangeTag;
  uint64_t bits = bitmap.size() * 8;
  if (probes == 0 || probes > kMaxProbes || bits > kMaxBits) return true;
  uint32_t h = key_hash32(user_key);
  uint32_t delta = probe_delta(h);
  for (uint32_t i = 0; i < probes; ++i) {
    uint64_t bit = fast_range(h, bits);
    if ((bitmap[bit / 8] & (1 << (bit % 8))) == 0) return false;
    h += delta;
  }
  return true;
}

}  // namespace weaseldb::storage
