#pragma once
// Byte-level helpers of the conflict set's radix tree (ArtTree, conflict_set_art.hpp): key
// comparisons a word at a time (prefixes, inline leaf words) and searches of 256-bit child
// sets (internal to src/commit/conflict_set_*).
//
// Not a header to include on its own: conflict_set_art.hpp includes it once Node is
// defined. It owns nothing.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "commit/conflict_set_key.hpp"

namespace weasel::cset::art {

// Length of the common prefix of a[0, m) and b[0, m), a word at a time.
// From 8 bytes on, the last word overlaps the one before, whose bytes are equal by then.
inline size_t common_length(const char* a, const uint8_t* b, size_t m) {
  if (m < 8) {
    uint64_t d = load_le(a, m) ^ load_le(b, m);  // both zero-padded alike
    return d != 0 ? static_cast<size_t>(__builtin_ctzll(d)) / 8 : m;
  }
  uint64_t x, y;
  if (m <= 16) {  // common prefixes (e.g. a table name): two words at most, no loop
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    if (x != y) return static_cast<size_t>(__builtin_ctzll(x ^ y)) / 8;
    std::memcpy(&x, a + m - 8, 8);
    std::memcpy(&y, b + m - 8, 8);
    return x != y ? m - 8 + static_cast<size_t>(__builtin_ctzll(x ^ y)) / 8 : m;
  }
  size_t i = 0;
  for (;; i += 8) {
    if (i + 8 > m) i = m - 8;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    if (x != y) return i + static_cast<size_t>(__builtin_ctzll(x ^ y)) / 8;
    if (i + 8 == m) return m;
  }
}

// Compares `key` from `depth` with an inline leaf's key: -1 before it, 0 equal, +1 after.
// One big-endian word each, both zero-padded: the leaf's bytes, byte-swapped, lead its word,
// and the key's next (up to 8) bytes lead the other. Where the words differ, they order the
// keys (a byte past the shorter key's end is 0 on its side and not below the other's); where
// they do not, the lengths do. A key that goes on for 1-7 bytes is loaded as the 8 bytes
// ending at its end, shifted, when it has 8: one load instead of two plus a merge.
struct LeafWords {
  uint64_t key;  // the key's next bytes, as above
  uint64_t leaf;
  size_t key_len;  // bytes of the key from depth
  size_t leaf_len;
};
inline LeafWords leaf_words(std::string_view key, size_t depth, const Node* word) {
  uint64_t w = reinterpret_cast<uintptr_t>(word);
  size_t avail = key.size() - depth;
  uint64_t x;
  if (avail >= 8) {
    x = load_be(key.data() + depth, 8);
  } else if (avail != 0 && key.size() >= 8) {
    x = load_be(key.data() + key.size() - 8, 8) << (64 - 8 * avail);
  } else {
    x = load_be(key.data() + depth, avail);
  }
  return {x, __builtin_bswap64(w) << 8, avail, (w >> 1) & 7};
}

inline int compare_leaf(std::string_view key, size_t depth, const Node* word) {
  LeafWords l = leaf_words(key, depth, word);
  if (l.key != l.leaf) return l.key < l.leaf ? -1 : 1;
  return (l.key_len > l.leaf_len) - (l.key_len < l.leaf_len);
}

// memcmp's sign for m bytes, in big-endian words (no library call for short prefixes). From
// 8 bytes on, the last word overlaps the one before: the bytes they share are equal by then,
// so the first difference in it is the first difference overall.
inline int compare_bytes(const char* a, const uint8_t* b, size_t m) {
  const char* bc = reinterpret_cast<const char*>(b);
  uint64_t x = 0;
  uint64_t y = 0;
  if (m >= 8) {
    for (size_t i = 0; i + 8 < m; i += 8) {
      x = load_be(a + i, 8);
      y = load_be(bc + i, 8);
      if (x != y) return x < y ? -1 : 1;
    }
    x = load_be(a + m - 8, 8);
    y = load_be(bc + m - 8, 8);
  } else if (m > 0) {
    x = load_be(a, m);
    y = load_be(bc, m);
  }
  return (x > y) - (x < y);
}

// Index of the highest set bit below `byte` in a 256-bit set, or -1.
inline int highest_below(const uint64_t* bits, unsigned byte) {
  unsigned w = byte >> 6;
  uint64_t m = bits[w] & ((uint64_t{1} << (byte & 63)) - 1);
  for (;;) {
    if (m != 0) return static_cast<int>(w * 64 + 63 - static_cast<unsigned>(__builtin_clzll(m)));
    if (w == 0) return -1;
    m = bits[--w];
  }
}

// Index of the lowest set bit at or above `byte` (<= 255), or -1.
inline int lowest_from(const uint64_t* bits, unsigned byte) {
  unsigned w = byte >> 6;
  uint64_t m = bits[w] & (~uint64_t{0} << (byte & 63));
  for (;;) {
    if (m != 0) return static_cast<int>(w * 64 + static_cast<unsigned>(__builtin_ctzll(m)));
    if (w == 3) return -1;
    m = bits[++w];
  }
}

inline bool has_bit(const uint64_t* bits, unsigned byte) {
  return (bits[byte >> 6] >> (byte & 63)) & 1;
}

// fn(b) for every set bit b >= first of a 256-bit set, ascending, until fn returns false. The
// set may change under the walk: each word is read once, as the walk reaches it.
template <class Fn>
inline void visit_bits(const uint64_t* bits, unsigned first, Fn&& fn) {
  uint64_t m = bits[first >> 6] & (~uint64_t{0} << (first & 63));
  for (unsigned w = first >> 6;;) {
    while (m != 0) {
      unsigned b = w * 64 + static_cast<unsigned>(__builtin_ctzll(m));
      m &= m - 1;
      if (!fn(b)) return;
    }
    if (++w == 4) return;
    m = bits[w];
  }
}

}  // namespace weasel::cset::art
