#pragma once
// Key helpers for the conflict set's B+tree (internal to src/commit/conflict_set_*).
//
// Keys are arbitrary byte strings ordered by memcmp with the shorter prefix first; the empty
// key is the smallest. Nodes compare keys through a 64-bit "head": the 8 bytes that follow
// the node's shared prefix, big-endian, zero-padded past the end of the key. A strictly
// smaller head means a strictly smaller key (padding zeros sort before any real byte of a
// longer key only when the shorter key is a prefix of it); equal heads need tie_compare.
//
// StoredKey owns a copy of a key: up to 8 bytes inline, longer ones in a KeyPool slot. It is
// trivially copyable so that node arrays can be shifted with memmove; ownership is manual:
// whoever removes a StoredKey from a node must release() it exactly once, to the pool that
// made it. view() of an
// inline key points into the StoredKey itself, so it is invalidated when the StoredKey moves.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

#include "commit/conflict_set_pool.hpp"
#include "core/assert.hpp"

namespace weasel::cset {

inline const uint8_t* bytes_of(std::string_view k) {
  return reinterpret_cast<const uint8_t*>(k.data());
}

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

// Bytes [offset, offset + 8) of `k` as a big-endian integer, zero-padded past the end.
inline uint64_t load_head(std::string_view k, size_t offset) {
  return offset >= k.size() ? 0 : load_be(k.data() + offset, k.size() - offset);
}

// Three-way comparison of two keys whose first `offset` bytes are known to be equal and
// whose heads at `offset` are equal.
inline int tie_compare(std::string_view a, std::string_view b, size_t offset) {
  size_t m = std::min(a.size(), b.size());
  if (m > offset + 8) {
    int c = std::memcmp(a.data() + offset + 8, b.data() + offset + 8, m - offset - 8);
    if (c != 0) return c;
  }
  return (a.size() > b.size()) - (a.size() < b.size());
}

// Plain three-way key comparison (memcmp order, shorter prefix first).
inline int compare_keys(std::string_view a, std::string_view b) {
  size_t m = std::min(a.size(), b.size());
  int c = m == 0 ? 0 : std::memcmp(a.data(), b.data(), m);
  if (c != 0) return c;
  return (a.size() > b.size()) - (a.size() < b.size());
}

// Length of the longest common prefix of a and b.
inline size_t common_prefix(std::string_view a, std::string_view b) {
  size_t m = std::min(a.size(), b.size());
  size_t i = 0;
  while (i + 8 <= m) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) return i + static_cast<size_t>(__builtin_ctzll(x ^ y)) / 8;
    i += 8;
  }
  while (i < m && a[i] == b[i]) ++i;
  return i;
}

// Compares `k` with bytes [from, to) of `prefix_owner` (which has at least `to` bytes), given
// that their first `from` bytes are equal: < 0 if k sorts before every key that starts with
// prefix_owner[0, to), > 0 if after all of them, 0 if k starts with that prefix.
inline int compare_to_prefix(std::string_view k, std::string_view prefix_owner, size_t from,
                             size_t to) {
  size_t n = std::min(k.size(), to);
  for (size_t offset = from; offset < n; offset += 8) {
    uint64_t x = load_be(k.data() + offset, n - offset);
    uint64_t y = load_be(prefix_owner.data() + offset, n - offset);
    if (x != y) return x < y ? -1 : 1;
  }
  return k.size() < to ? -1 : 0;
}

class StoredKey {
 public:
  static constexpr size_t kInlineBytes = 8;

  // Copies `k`: inline, or into memory from `pool`.
  static StoredKey make(std::string_view k, KeyPool& pool) {
    WEASEL_ASSERT(k.size() <= UINT32_MAX);
    StoredKey s;
    s.len_ = static_cast<uint32_t>(k.size());
    if (k.size() <= kInlineBytes) {
      // An empty key may come with a null data(): memcpy from null is undefined even for 0 bytes.
      if (!k.empty()) std::memcpy(s.inline_, k.data(), k.size());
    } else {
      s.heap_ = pool.allocate(k.size());
      std::memcpy(s.heap_, k.data(), k.size());
    }
    return s;
  }

  // Gives the out-of-line copy, if any, back to `pool`; the StoredKey must not be used
  // afterwards.
  void release(KeyPool& pool) {
    if (len_ > kInlineBytes) pool.release(heap_, len_);
  }

  std::string_view view() const {
    const uint8_t* p = len_ > kInlineBytes ? heap_ : inline_;
    return {reinterpret_cast<const char*>(p), len_};
  }
  size_t size() const { return len_; }

 private:
  union {
    uint8_t inline_[kInlineBytes];
    uint8_t* heap_ = nullptr;
  };
  uint32_t len_ = 0;
};

}  // namespace weasel::cset
