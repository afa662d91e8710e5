#include "storage/bloom.hpp"

// Inlined: a call into the shared library's XXH3 costs more than hashing a short key.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <utility>

#include "core/assert.hpp"

namespace weaseldb::storage {

namespace {

constexpr uint32_t kMaxProbes = 30;
constexpr uint8_t kFastRangeTag = 0x80;
constexpr uint8_t kBlockedTag = 0x40;  // with kFastRangeTag: probes stay in one cache line
constexpr uint64_t kLineBytes = 64;
// Bit positions must fit the 32-bit multiply-shift: the filter stays under 512 MiB (and a
// table with more keys than that only sees more false positives).
constexpr uint64_t kMaxBits = (uint64_t{1} << 32) - 8;

uint64_t key_hash(std::string_view key) {
  return XXH3_64bits(key.data(), key.size());
}

// Maps a 32-bit probe onto [0, bits) with a multiply instead of a 64-bit division, which
// cost ~25 cycles per probe, six probes per lookup and per key built.
inline uint64_t fast_range(uint32_t probe, uint64_t bits) {
  return (uint64_t{probe} * bits) >> 32;
}

inline uint32_t probe_delta(uint32_t h) {
  return (h >> 17) | (h << 15);
}

// The line of a blocked filter that holds all of h's probes.
inline uint64_t line_of(uint32_t h, uint64_t lines) { return fast_range(h, lines); }

// Probe i of a blocked filter is bit (p_i >> 23) of the line, p_0 = h * golden ratio and
// p_{i+1} = p_i * golden ratio: the line comes from h's high bits, the bits within it from
// all of h (RocksDB's FastLocalBloom, with one 32-bit hash).
inline uint32_t first_probe(uint32_t h) { return h * 0x9E3779B9u; }
inline uint32_t next_probe(uint32_t p) { return p * 0x9E3779B9u; }

uint32_t fold32(uint64_t h) { return static_cast<uint32_t>(h ^ (h >> 32)); }

uint32_t key_hash32(std::string_view key) { return fold32(key_hash(key)); }

const char* blocked_line(std::string_view bitmap, uint32_t h) {
  return bitmap.data() + line_of(h, bitmap.size() / kLineBytes) * kLineBytes;
}

uint64_t line_count(uint32_t bits_per_key, uint64_t keys) {
  uint64_t bits = uint64_t{bits_per_key} * keys;
  uint64_t lines = std::max<uint64_t>(1, (bits + kLineBytes * 8 - 1) / (kLineBytes * 8));
  return std::min<uint64_t>(lines, kMaxBits / (kLineBytes * 8));
}

void set_probes(char* filter, uint64_t lines, uint32_t probes, uint32_t h) {
  char* line = filter + line_of(h, lines) * kLineBytes;
  uint32_t p = first_probe(h);
  for (uint32_t i = 0; i < probes; ++i) {
    uint32_t bit = p >> 23;
    line[bit / 8] = static_cast<char>(line[bit / 8] | (1 << (bit % 8)));
    p = next_probe(p);
  }
}

}  // namespace

BloomBuilder::BloomBuilder(uint32_t bits_per_key)
    : bits_per_key_(bits_per_key),
      // ln(2) * bits per key probes minimizes the false-positive rate.
      probes_(std::clamp<uint32_t>(bits_per_key * 69 / 100, 1, kMaxProbes)) {
  WEASEL_ASSERT(bits_per_key >= 1);
}

void BloomBuilder::reserve(size_t keys) {
  WEASEL_ASSERT(keys_ == 0 && lines_ == 0);
  if (keys == 0) return;
  lines_ = line_count(bits_per_key_, keys);
  filter_.assign(lines_ * kLineBytes + 1, '\0');
}

void BloomBuilder::add(std::string_view user_key) {
  uint32_t h = key_hash32(user_key);
  // Versions of a key arrive together (sorted input): count the key once.
  if (keys_ > 0 && h == last_hash_) return;
  last_hash_ = h;
  ++keys_;
  if (lines_ > 0) {
    set_probes(filter_.data(), lines_, probes_, h);
  } else {
    hashes_.push_back(h);
  }
}

std::string BloomBuilder::finish() {
  if (lines_ == 0) {
    lines_ = line_count(bits_per_key_, hashes_.size());
    filter_.assign(lines_ * kLineBytes + 1, '\0');
    for (uint32_t h : hashes_) set_probes(filter_.data(), lines_, probes_, h);
    hashes_.clear();
    hashes_.shrink_to_fit();  // a builder may live on while its table is written out
  }
  filter_.back() = static_cast<char>(kFastRangeTag | kBlockedTag | probes_);
  lines_ = 0;
  return std::move(filter_);
}

BloomFilter::BloomFilter(std::string_view filter) {
  if (filter.size() < 2) return;
  auto tag = static_cast<uint8_t>(filter.back());
  std::string_view bitmap = filter.substr(0, filter.size() - 1);
  if ((tag & kFastRangeTag) == 0) {
    if (tag == 0 || tag > kMaxProbes) return;
    probes_ = tag;
    scheme_ = Scheme::kModulo;
  } else if ((tag & kBlockedTag) != 0) {
    uint32_t probes = tag & ~(kFastRangeTag | kBlockedTag);
    if (probes == 0 || probes > kMaxProbes || bitmap.size() % kLineBytes != 0) return;
    probes_ = probes;
    scheme_ = Scheme::kBlocked;
  } else {
    uint32_t probes = tag & ~kFastRangeTag;
    if (probes == 0 || probes > kMaxProbes || bitmap.size() * 8 > kMaxBits) return;
    probes_ = probes;
    scheme_ = Scheme::kFastRange;
  }
  bitmap_ = bitmap;
}

uint64_t BloomFilter::hash(std::string_view user_key) const {
  uint64_t h = key_hash(user_key);
  if (scheme_ == Scheme::kBlocked) __builtin_prefetch(blocked_line(bitmap_, fold32(h)));
  return h;
}

bool BloomFilter::may_contain(uint64_t hash) const {
  switch (scheme_) {
    case Scheme::kNone:
      return true;
    case Scheme::kBlocked: {
      uint32_t h = fold32(hash);
      const char* line = blocked_line(bitmap_, h);
      uint32_t p = first_probe(h);
      for (uint32_t i = 0; i < probes_; ++i) {
        uint32_t bit = p >> 23;
        if ((line[bit / 8] & (1 << (bit % 8))) == 0) return false;
        p = next_probe(p);
      }
      return true;
    }
    case Scheme::kFastRange: {
      uint64_t bits = bitmap_.size() * 8;
      uint32_t h = fold32(hash);
      uint32_t delta = probe_delta(h);
      for (uint32_t i = 0; i < probes_; ++i) {
        uint64_t bit = fast_range(h, bits);
        if ((bitmap_[bit / 8] & (1 << (bit % 8))) == 0) return false;
        h += delta;
      }
      return true;
    }
    case Scheme::kModulo: {
      uint64_t bits = bitmap_.size() * 8;
      uint64_t h1 = hash & 0xffffffff;
      uint64_t h2 = (hash >> 32) | 1;
      for (uint32_t i = 0; i < probes_; ++i) {
        uint64_t bit = (h1 + i * h2) % bits;
        if ((bitmap_[bit / 8] & (1 << (bit % 8))) == 0) return false;
      }
      return true;
    }
  }
  return true;
}

bool bloom_may_contain(std::string_view filter, std::string_view user_key) {
  BloomFilter parsed(filter);
  return parsed.may_contain(parsed.hash(user_key));
}

}  // namespace weaseldb::storage
