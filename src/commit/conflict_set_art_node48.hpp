#pragma once
// Node48 of the conflict set's radix tree (ArtTree, conflict_set_art.hpp): its layout and the
// helpers that keep its index[] consistent (internal to src/commit/conflict_set_*).
//
// Contract. index[b] is 1 + the slot of the child at byte b when b has one; when not, it is
// kIndexAbsent | (1 + slot) of the closest smaller child, or 0 when no child is smaller (the
// predecessor table: a read that misses finds the slot whose tail is its answer in one byte
// load, and the predecessor of any byte b is in index[b - 1] & kIndexSlot). bits[] says which
// bytes have a child and `used` which slots are taken. Every helper below leaves all three
// consistent, except put_in_node48<false>() and walks that remove children in place, after
// which rebuild_absent() restores the absent entries.
//
// Not a header to include on its own: conflict_set_art.hpp includes it once Node and Slot
// are defined. It owns nothing (nodes belong to the tree's slabs).

#include <cstdint>
#include <cstring>

namespace weasel::cset::art {

// bits: which bytes have a child (walks over the children without reading index[]).
// index[b]: 1 + slot of the child at b (1..48) when b has one; when not, kIndexAbsent | (1 +
// slot) of the closest smaller child, or 0 when no child is smaller. So a search that misses
// finds its predecessor in the same byte (no bit search), and the predecessor of any byte b
// is in index[b - 1] & kIndexSlot.
struct Node48 : Node {
  uint64_t bits[4];
  uint64_t used;  // which slots hold a child (a free one is found without reading them)
  uint8_t index[256];
  Slot slots[48];
};
inline constexpr uint8_t kIndexAbsent = 0x80;
inline constexpr uint8_t kIndexSlot = 0x7f;

// Whether an index[] entry names a child at its own byte.
inline bool index_present(unsigned at) {
  return at != 0 && (at & kIndexAbsent) == 0;
}

// Index of the lowest set bit at or above `byte` (<= 255), or -1.
inline int lowest_from(const uint64_t* bits, unsigned byte);

// Sets index[from, end) (end <= 256) to `entry`. (A word at a time under a mask, to avoid
// memset's branches on the length: 330.7 instructions per in-cache write instead of 321.5,
// and as many mispredicts.)
inline void fill_index(uint8_t* index, unsigned from, unsigned end, uint8_t entry) {
  std::memset(index + from, entry, end - from);
}

// Points index[from, next child) of a Node48 at `entry` (the absent bytes after a child, or
// after where one was). bits must be up to date.
inline void fill_absent_run(Node48* m, unsigned from, uint8_t entry) {
  if (from > 255) return;
  int next = lowest_from(m->bits, from);
  fill_index(m->index, from, next < 0 ? 256u : static_cast<unsigned>(next), entry);
}

// Puts `child` at `byte` into a Node48 that has room and no child there; returns its slot.
// kFill false leaves the absent bytes' entries to a rebuild_absent() afterwards (a node
// filled with many children at once).
template <bool kFill = true>
inline Slot* put_in_node48(Node48* m, uint8_t byte, const Slot& child) {
  auto free = static_cast<unsigned>(__builtin_ctzll(~m->used));
  m->used |= uint64_t{1} << free;
  m->slots[free] = child;
  m->index[byte] = static_cast<uint8_t>(free + 1);
  m->bits[byte >> 6] |= uint64_t{1} << (byte & 63);
  if constexpr (kFill) fill_absent_run(m, byte + 1u, static_cast<uint8_t>(kIndexAbsent | (free + 1)));
  ++m->count;
  return &m->slots[free];
}

// Takes the child at `byte` out of a Node48 (count and slot storage included); the bytes that
// pointed at it point at its predecessor instead.
inline void take_from_node48(Node48* m, unsigned byte) {
  unsigned slot = m->index[byte] - 1u;
  m->used &= ~(uint64_t{1} << slot);
  m->slots[slot].child = nullptr;
  m->bits[byte >> 6] &= ~(uint64_t{1} << (byte & 63));
  unsigned pred = byte > 0 ? m->index[byte - 1] & kIndexSlot : 0u;
  fill_absent_run(m, byte, static_cast<uint8_t>(pred != 0 ? kIndexAbsent | pred : 0));
  --m->count;
}

// Rewrites every absent byte's index[] entry from bits and the present entries, after a walk
// that removed children without keeping them up to date (collection).
inline void rebuild_absent(Node48* m) {
  unsigned from = 0;
  uint8_t entry = 0;
  for (unsigned w = 0; w < 4; ++w) {
    for (uint64_t bits = m->bits[w]; bits != 0; bits &= bits - 1) {
      unsigned b = w * 64 + static_cast<unsigned>(__builtin_ctzll(bits));
      fill_index(m->index, from, b, entry);
      entry = static_cast<uint8_t>(kIndexAbsent | m->index[b]);
      from = b + 1;
    }
  }
  fill_index(m->index, from, 256, entry);
}

}  // namespace weasel::cset::art
