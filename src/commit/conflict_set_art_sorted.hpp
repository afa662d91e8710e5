#pragma once
// Sorted nodes of the conflict set's radix tree (ArtTree, conflict_set_art.hpp): Node4,
// Node16 and Node32, whose child bytes are kept ascending in keys[0, count) with their slots
// in the same order, and the search for the children below a byte (internal to
// src/commit/conflict_set_*).
//
// Not a header to include on its own: conflict_set_art.hpp includes it once Node and Slot
// are defined. It owns nothing (nodes belong to the tree's slabs).

#include <cstdint>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace weasel::cset::art {

// Children sorted by byte: keys[0, count) ascending, slots in the same order.
template <int kCap>
struct NodeSorted : Node {
  static constexpr int kCapacity = kCap;
  uint8_t keys[kCap < 8 ? 8 : kCap];
  Slot slots[kCap];
};
using Node4 = NodeSorted<4>;
using Node16 = NodeSorted<16>;
// Between Node16 and Node48: 640 bytes against Node48's 1152. In a large tree of hashed keys
// the level under the fan-out holds ~15 keys a node, and a third of those nodes outgrow 16.
using Node32 = NodeSorted<32>;

inline bool is_sorted_type(Type t) {
  return t == Type::k4 || t == Type::k16 || t == Type::k32;
}

// The keys and slots of a Node4, Node16 or Node32 (n->type says which), for code that treats
// them alike.
inline const uint8_t* sorted_keys(const Node* n) {
  return n->type == Type::k4    ? static_cast<const Node4*>(n)->keys
         : n->type == Type::k16 ? static_cast<const Node16*>(n)->keys
                                : static_cast<const Node32*>(n)->keys;
}
inline const Slot* sorted_slots(const Node* n) {
  return n->type == Type::k4    ? static_cast<const Node4*>(n)->slots
         : n->type == Type::k16 ? static_cast<const Node16*>(n)->slots
                                : static_cast<const Node32*>(n)->slots;
}
inline uint8_t* sorted_keys(Node* n) {
  return const_cast<uint8_t*>(sorted_keys(static_cast<const Node*>(n)));
}
inline Slot* sorted_slots(Node* n) {
  return const_cast<Slot*>(sorted_slots(static_cast<const Node*>(n)));
}

// Number of keys[0, n) below b, for sorted keys.
template <int kCap>
inline int count_below(const NodeSorted<kCap>* n, uint8_t b) {
#ifdef __SSE2__
  if constexpr (kCap == 16) {
    // All 16 bytes compared at once, unsigned (both sides shifted by 0x80 for the signed
    // compare); bytes past count are masked off.
    const __m128i bias = _mm_set1_epi8(static_cast<char>(0x80));
    __m128i keys = _mm_loadu_si128(reinterpret_cast<const __m128i*>(n->keys));
    __m128i lt =
        _mm_cmplt_epi8(_mm_xor_si128(keys, bias), _mm_set1_epi8(static_cast<char>(b ^ 0x80)));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(lt)) & ((1u << n->count) - 1);
    return __builtin_ctz(~mask);  // sorted: the keys below b are a run from the start
  }
  if constexpr (kCap == 32) {  // the same, two halves
    const __m128i bias = _mm_set1_epi8(static_cast<char>(0x80));
    const __m128i probe = _mm_set1_epi8(static_cast<char>(b ^ 0x80));
    __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(n->keys));
    __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(n->keys + 16));
    unsigned lt_lo =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(_mm_xor_si128(lo, bias), probe)));
    unsigned lt_hi =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(_mm_xor_si128(hi, bias), probe)));
    uint64_t mask = (lt_lo | (uint64_t{lt_hi} << 16)) & ((uint64_t{1} << n->count) - 1);
    return __builtin_ctzll(~mask);
  }
#endif
  int i = 0;
  while (i < n->count && n->keys[i] < b) ++i;
  return i;
}

}  // namespace weasel::cset::art
