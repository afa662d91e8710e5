#pragma once
// Key helpers for the conflict set's radix tree (internal to src/commit/conflict_set_*).
//
// Keys are arbitrary byte strings ordered by memcmp with the shorter prefix first; the empty
// key is the smallest. Stateless functions over borrowed bytes: nothing here owns memory.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace weasel::cset {

// The first min(n, 8) bytes at p as a big-endian integer, zero-padded: fixed-size loads only
// (overlapping when n < 8), since a variable-length memcpy would be a library call.
inline uint64_t load_be(const char* p, size_t n) {
  uint32_t a, b;
  if (n >= 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    return __builtin_bswap64(x);
  }
  if (n >= 4) {
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    return (uint64_t{__builtin_bswap32(a)} << 32) |
           (uint64_t{__builtin_bswap32(b)} << (64 - 8 * n));
  }
  if (n == 0) return 0;
  auto byte = [&](size_t i) { return uint64_t{static_cast<uint8_t>(p[i])} << (56 - 8 * i); };
  return byte(0) | byte(n / 2) | byte(n - 1);
}

// The n < 8 bytes at p as a little-endian integer, zero-padded: the same fixed-size loads.
inline uint64_t load_le(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, b, 4);
    std::memcpy(&hi, b + n - 4, 4);
    return lo | (uint64_t{hi} << (8 * (n - 4)));  // the overlapping bytes are equal
  }
  if (n == 0) return 0;
  return b[0] | (uint64_t{b[n / 2]} << (8 * (n / 2))) | (uint64_t{b[n - 1]} << (8 * (n - 1)));
}

// Plain three-way key comparison (memcmp order, shorter prefix first).
inline int compare_keys(std::string_view a, std::string_view b) {
  size_t m = std::min(a.size(), b.size());
  int c = m == 0 ? 0 : std::memcmp(a.data(), b.data(), m);
  if (c != 0) return c;
  return (a.size() > b.size()) - (a.size() < b.size());
}

}  // namespace weasel::cset
