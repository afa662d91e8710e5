#pragma once
// ArtTree: the ordered structure behind ConflictSet, an adaptive radix tree (internal to
// src/commit/conflict_set_*).
//
// Model. The tree is a step function from keys to versions, stored as sorted boundary
// entries. Entry k holds `point` (the version of key k itself) and `range` (the version of
// every key strictly between k and the next entry). Keys before the first entry have version
// 0. Writes only ever raise versions to the newest one, hence range <= point in every entry,
// so the highest version over [b, e) is max(version_at(b), point of every entry in (b, e)).
//
// Layout. A radix tree over key bytes with path compression: every node holds the bytes its
// keys share below its parent's edge (its prefix, inline up to 40 bytes), an entry when a key
// ends exactly there, and children indexed by the next byte in one of five layouts (4, 16 or
// 32 sorted bytes, a 256-byte index into 48 slots, or 256 direct slots; Node0 has none). Every
// node but the root has an entry or at least two children. A child slot carries, next to the
// pointer, an upper bound of the point versions below it (max_point: a range check skips a
// subtree whose bound is not above the read version) and the range version of its subtree's
// last entry (tail: the version just after the subtree). So the version of an absent key is
// found in the same descent: the tail of the closest smaller sibling on the way down, or the
// range of the last node passed that holds an entry, whichever is deeper. A lookup reads the
// header and one slot per level (plus the byte array of a sorted node): a few cache lines.
// A leaf whose key goes on for at most 7 bytes below its parent's edge takes no node at all:
// it lives in its parent's slot (an inline leaf: the child word holds the bytes, tagged by
// its low bit; max_point is its point and tail its range), so a lookup ends one line sooner
// and collection reads leaves packed in their parent, not one line each.
//
// Bounds (max_point) of large nodes may overstate a subtree after entries are erased or
// collected; tails are always exact. An overstated bound never turns into a false conflict
// for a caller that checks version_at(begin) and then any_above() (as ConflictSet does), with
// v >= the `oldest` given to collect(): an erased entry's version was <= oldest, or a key of
// the same subtree still has a version at least as high (the range write that erased it, or
// the predecessor's range that made it redundant, covers that key), and a subtree that
// any_above() judges by its bound lies wholly inside the range asked about.
//
// Ownership: the tree owns its nodes (NodeSlabs, one per layout) and prefixes longer than 40
// bytes (its KeyPool); string_views passed in are copied into prefixes, never kept. Not
// thread-safe for writers: one owner. Const members touch no shared scratch, so concurrent
// readers are safe while nobody writes.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "commit/conflict_set_key.hpp"
#include "commit/conflict_set_pool.hpp"

namespace weasel::cset {

// Lookups that check() and add_writes() interleave, so that their cache misses overlap.
inline constexpr int kGroup = 32;

namespace art {

enum class Type : uint8_t { k0, k4, k16, k32, k48, k256 };
// What a visit_children() callback asks for after seeing a child.
enum class Visit : uint8_t { kNext, kRemove, kStop };
inline constexpr size_t kInlinePrefix = 40;

struct Node;

struct Slot {
  Node* child;         // or an inline leaf (is_leaf_word)
  uint64_t max_point;  // upper bound of the point versions in the child's subtree
  uint64_t tail;       // range version of the last entry in the child's subtree
};

// 64 bytes: a Node0 (the typical leaf) is one cache line.
struct alignas(64) Node {
  Type type;
  bool has_entry;
  uint16_t count;  // children
  uint32_t prefix_len;
  uint64_t point;  // the entry, when has_entry
  uint64_t range;
  union {
    uint8_t inline_prefix[kInlinePrefix];
    uint8_t* heap_prefix;  // prefix_len > kInlinePrefix: from the tree's KeyPool
  };
  const uint8_t* prefix() const { return prefix_len > kInlinePrefix ? heap_prefix : inline_prefix; }
};

struct Node0 : Node {};

}  // namespace art
}  // namespace weasel::cset

#include "commit/conflict_set_art_node48.hpp"  // needs Node and Slot above
#include "commit/conflict_set_art_sorted.hpp"  // needs Node and Slot above

namespace weasel::cset {
namespace art {

struct Node256 : Node {
  uint64_t bits[4];
  Slot slots[256];  // child == nullptr for none
};

}  // namespace art

class ArtTree {
 public:
  // Slice of entries ConflictSet's collection works through at a time.
  static constexpr int kCollectSlice = 256;
  // About 1 MiB of nodes (inline leaves take 24 bytes each, their parents' headers a few more).
  static constexpr size_t kGroupFromEntries = size_t{1} << 15;

  // huge_pages: ask for huge pages for the nodes (worth it for a large tree; a small scratch
  // tree would pin 2 MiB pages for a few nodes). node32_from_entries: a full Node16 grows
  // into a Node32 once the tree holds that many entries, before that into a Node48. A tree in
  // cache reads faster through Node48s (one index load, no search: 17.5 against 21 ns per
  // in-cache read with Node32s); a larger one through the smaller Node32s (0.65 against 1.04
  // DRAM misses per read at 1M keys). Nodes already made keep their layout.
  explicit ArtTree(bool huge_pages = true, size_t node32_from_entries = kGroupFromEntries);
  ~ArtTree();
  ArtTree(const ArtTree&) = delete;
  ArtTree& operator=(const ArtTree&) = delete;

  // Version of `key`: its own point version if it is an entry, else the range version of the
  // closest entry before it, else 0.
  // (Inline, forced, with version_in: a caller's loop of lookups in a tree in cache keeps
  // its registers and calls nothing; GCC's own choice is a call, ~20 instructions a read.)
  [[gnu::always_inline]] uint64_t version_at(std::string_view key) const {
    return !grouping_pays() ? version_in<false>(key) : version_far(key);
  }
  // version_at for n <= kGroup keys at once, descending all of them in turns, one node each,
  // with prefetches, so that the cache misses of the n descents overlap.
  void versions_at(const std::string_view* keys, int n, uint64_t* out) const;
  // Whether the tree outgrows a core's cache, so that grouped descents (versions_at(),
  // prefetch_leaves()) overlap misses; below that they only add work, and skip it.
  bool grouping_pays() const { return entry_count_ >= kGroupFromEntries; }
  // Pulls the nodes on the paths of n <= kGroup keys into the cache (a hint before writing).
  void prefetch_leaves(const std::string_view* keys, int n) const;
  // True if some key strictly inside (begin, end) has a version above v (end absent: no upper
  // bound). Precondition: v >= the oldest version last given to collect().
  bool any_above(std::string_view begin, std::optional<std::string_view> end, uint64_t v) const;
  // Upper bound of every version in the tree.
  uint64_t max_version() const { return max_version_; }

  // Sets key's version to v. v must be >= every version already written.
  void write_point(std::string_view key, uint64_t v);
  // write_point(keys[i], versions[i]) for n <= kGroup keys, in order. Versions never
  // decrease along the keys, and the first is >= every version already written. The paths
  // are fetched together first, so their cache misses overlap.
  void write_points(const std::string_view* keys, const uint64_t* versions, int n);
  // Sets every key in [begin, end) to v (end absent: to the end of the key space); begin < end.
  void write_range(std::string_view begin, std::optional<std::string_view> end, uint64_t v);

  // Garbage collection: examines about `budget` entries from where the last call stopped
  // (wrapping around), removing every entry that no longer changes the answer of a query with
  // v >= oldest. Returns the number of entries examined.
  size_t collect(uint64_t oldest, size_t budget);

  // Removes every entry; the chunks of the freed nodes stay for reuse.
  void clear();

  size_t entry_count() const { return entry_count_; }
  size_t memory_bytes() const;
  // Nodes on the longest root-to-entry path (O(n): tests and diagnostics).
  int height() const;
  // Entries ever inserted; lets the owner pace collection with growth.
  uint64_t inserted_total() const { return inserted_total_; }
  // Walks the whole tree and aborts on any broken invariant (tests only: O(n)).
  void check_invariants() const;
  // Nodes of each layout (Node0, 4, 16, 32, 48, 256: indexed by art::Type), then inline
  // leaves, for tests of growth and shrinking.
  void node_counts(size_t out[7]) const;

 private:
  struct Lookup {
    bool found;       // the key is an entry
    uint64_t before;  // version of the keys just before the key
  };
  // Where upsert() left the key's entry: in a node, or inline in a slot.
  struct Entry {
    art::Node* node;
    art::Slot* leaf;
  };
  struct GcState {
    uint64_t oldest;
    size_t budget;
    size_t examined;
    uint64_t pred;  // range version of the last entry kept before the current one
    bool stopped;
    size_t removed;
  };

  // Queries and writes (conflict_set_art.cpp).
  Lookup lookup(std::string_view key) const;
  template <bool kPrefetch>
  [[gnu::always_inline]] uint64_t version_in(std::string_view key) const;
  uint64_t version_far(std::string_view key) const;  // version_in<true>, out of line
  bool any_above_in(const art::Slot& s, size_t depth, std::string_view lo, bool lo_on,
                    std::string_view hi, bool hi_on, uint64_t v) const;
  template <bool kPath, bool kNewest>
  Entry upsert(std::string_view key, uint64_t point);
  art::Node* materialize(const art::Slot& s);
  void inline_if_small(art::Slot& s);
  Entry split(art::Slot* s, size_t depth, size_t at, std::string_view key, uint64_t point,
              uint64_t pred);
  Entry split_leaf(art::Slot* s, size_t depth, std::string_view key, uint64_t point, uint64_t pred);
  Entry take_new_entry(art::Node* n, uint64_t point, uint64_t pred);
  // Where the entry of the key in `slot` lives: the inline leaf, or the child node's entry.
  static Entry entry_in(art::Slot* slot);
  art::Slot new_leaf(std::string_view key, size_t from, uint64_t point, uint64_t range);
  void erase_in(art::Slot& s, size_t depth, std::string_view lo, bool lo_on, std::string_view hi,
                bool hi_on);
  void refresh_tails();

  // Collection (conflict_set_art_collect.cpp).
  void collect_in(art::Slot& s, size_t depth, bool lo_on, GcState& st);
  template <class Wide>
  void collect_wide(Wide* m, unsigned first, bool lo_in, size_t depth, GcState& st);
  void collect_sorted(art::Node* n, unsigned first, bool lo_in, size_t depth, GcState& st);
  int collect_leaves(art::Slot& c, uint64_t oldest, uint64_t& pred, size_t& left);
  art::Visit collect_child(art::Node* n, unsigned at, art::Slot& c, size_t depth, bool lo_on,
                           GcState& st);
  void collect_leaf(art::Slot& s, size_t depth, bool lo_on, GcState& st);
  bool examine_leaf(art::Slot& s, GcState& st);
  void append_leaf_bytes(const art::Node* word);

  // Nodes (conflict_set_art_nodes.cpp).
  art::Node* make_node(art::Type type);
  art::Node* make_leaf(std::string_view key, size_t from, uint64_t point, uint64_t range);
  void free_node(art::Node* n);       // the node only, not its prefix
  size_t free_subtree(art::Node* n);  // returns the entries freed
  void set_prefix(art::Node* n, const uint8_t* bytes, size_t len);
  void release_prefix(art::Node* n);
  art::Node* retype(art::Node* n, art::Type type);
  void add_child(art::Slot& s, uint8_t byte, const art::Slot& child);
  void remove_child(art::Node* n, uint8_t byte);
  void settle(art::Slot& s, bool exact_max = true);
  void check_node(const art::Slot& s, std::string& key, const uint64_t& before, size_t& entries,
                  size_t& heap_bytes, uint64_t& last_range) const;

  art::Slot root_{nullptr, 0, 0};
  size_t node32_from_entries_;
  uint64_t max_version_ = 0;
  size_t entry_count_ = 0;
  uint64_t inserted_total_ = 0;
  KeyPool keys_;
  NodeSlab<art::Node0> nodes0_;
  NodeSlab<art::Node4> nodes4_;
  NodeSlab<art::Node16> nodes16_;
  NodeSlab<art::Node32> nodes32_;
  NodeSlab<art::Node48> nodes48_;
  NodeSlab<art::Node256> nodes256_;
  std::vector<art::Slot*> path_;  // scratch of upsert: the slots from the root down
  std::string gc_cursor_;         // collect() resumes at the first entry >= this key
  std::string gc_key_;            // scratch of collect(): the key of the node it is in
  std::string scratch_;           // scratch of settle(): a merged prefix
};

// Node-level helpers shared by the .cpp files.
namespace art {

// Inline leaves: bit 0 set, bits 1-3 the length, bytes 1-7 the key bytes.
inline constexpr size_t kInlineLeafBytes = 7;

inline bool is_leaf_word(const Node* child) {
  return (reinterpret_cast<uintptr_t>(child) & 1) != 0;
}

inline size_t leaf_len(const Node* word) {
  return (reinterpret_cast<uintptr_t>(word) >> 1) & 7;
}

inline Node* leaf_word(const uint8_t* bytes, size_t len) {
  uint64_t w = 1 | (uint64_t{len} << 1) | (load_le(bytes, len) << 8);
  return reinterpret_cast<Node*>(static_cast<uintptr_t>(w));
}

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

inline void leaf_bytes(const Node* word, uint8_t* out) {
  uint64_t bytes = reinterpret_cast<uintptr_t>(word) >> 8;
  std::memcpy(out, &bytes, kInlineLeafBytes);  // little-endian, like leaf_word()'s load_le
}

// A Node0 that stands for the inline leaf in `s`, for code that reads nodes.
inline const Node* view_leaf(const Slot& s, Node* out) {
  out->type = Type::k0;
  out->has_entry = true;
  out->count = 0;
  out->prefix_len = static_cast<uint32_t>(leaf_len(s.child));
  out->point = s.max_point;
  out->range = s.tail;
  leaf_bytes(s.child, out->inline_prefix);
  return out;
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

// The child at `byte` (or null), and in *pred the slot of the closest child below it (or null).
inline const Slot* find_child(const Node* n, uint8_t byte, const Slot** pred) {
  *pred = nullptr;
  switch (n->type) {
    case Type::k0:
      return nullptr;
    case Type::k4: {
      auto* s = static_cast<const Node4*>(n);
      int i = count_below(s, byte);
      *pred = i > 0 ? &s->slots[i - 1] : nullptr;
      return i < s->count && s->keys[i] == byte ? &s->slots[i] : nullptr;
    }
    case Type::k16: {
      auto* s = static_cast<const Node16*>(n);
      int i = count_below(s, byte);
      *pred = i > 0 ? &s->slots[i - 1] : nullptr;
      return i < s->count && s->keys[i] == byte ? &s->slots[i] : nullptr;
    }
    case Type::k32: {
      auto* s = static_cast<const Node32*>(n);
      int i = count_below(s, byte);
      *pred = i > 0 ? &s->slots[i - 1] : nullptr;
      return i < s->count && s->keys[i] == byte ? &s->slots[i] : nullptr;
    }
    case Type::k48: {
      auto* s = static_cast<const Node48*>(n);
      unsigned below = byte > 0 ? s->index[byte - 1] & kIndexSlot : 0u;
      *pred = below != 0 ? &s->slots[below - 1] : nullptr;
      return index_present(s->index[byte]) ? &s->slots[s->index[byte] - 1] : nullptr;
    }
    case Type::k256: {
      auto* s = static_cast<const Node256*>(n);
      int below = highest_below(s->bits, byte);
      *pred = below >= 0 ? &s->slots[below] : nullptr;
      // The bit, not the slot: the caller may only prefetch the slot for now.
      return has_bit(s->bits, byte) ? &s->slots[byte] : nullptr;
    }
  }
  return nullptr;
}

// The child at `byte`, or null: find_child without the predecessor, for descents that look
// for it only when the key turns out absent (Trail).
inline const Slot* child_at(const Node* n, uint8_t byte) {
  switch (n->type) {
    case Type::k0:
      return nullptr;
    case Type::k4:
    case Type::k16:
    case Type::k32: {
      const uint8_t* keys = sorted_keys(n);
      const Slot* slots = sorted_slots(n);
#ifdef __SSE2__
      // 16 bytes compared at once (a Node4's 8 key bytes are followed by its slots, inside
      // the node), a Node32's second 16 too; bytes past count are masked off.
      const __m128i probe = _mm_set1_epi8(static_cast<char>(byte));
      __m128i k = _mm_loadu_si128(reinterpret_cast<const __m128i*>(keys));
      uint64_t mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(k, probe)));
      if (n->type == Type::k32) {
        __m128i k2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(keys + 16));
        mask |= uint64_t{static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(k2, probe)))} << 16;
      }
      mask &= (uint64_t{1} << n->count) - 1;
      return mask != 0 ? &slots[__builtin_ctzll(mask)] : nullptr;
#else
      for (int i = 0; i < n->count; ++i) {
        if (keys[i] == byte) return &slots[i];
      }
      return nullptr;
#endif
    }
    case Type::k48: {
      auto* s = static_cast<const Node48*>(n);
      return index_present(s->index[byte]) ? &s->slots[s->index[byte] - 1] : nullptr;
    }
    case Type::k256: {
      const Slot* slot = &static_cast<const Node256*>(n)->slots[byte];
      return slot->child != nullptr ? slot : nullptr;
    }
  }
  return nullptr;
}

// Where the version of the keys just before n's child at `byte` is kept, as far as n knows:
// the tail of the closest smaller child, else n's own entry's range, else null (the answer
// is further up).
inline const uint64_t* before_in(const Node* n, uint8_t byte) {
  const Slot* pred = nullptr;
  find_child(n, byte, &pred);
  if (pred != nullptr) return &pred->tail;
  return n->has_entry ? &n->range : nullptr;
}

// The version just before a key, found lazily: a descent records each node it passes and the
// byte it follows there, and only a key that turns out absent looks for the closest smaller
// sibling (or an entry on the way), from the deepest level up. When kLevels are recorded,
// their answer is folded into `base_` and recording starts over (deeper levels override
// it), so keys of any length work.
class Trail {
 public:
  void push(const Node* n, uint8_t byte) {
    if (count_ == kLevels) [[unlikely]] {
      base_ = before();
      count_ = 0;
    }
    nodes_[count_] = n;
    bytes_[count_] = byte;
    ++count_;
  }
  const uint64_t* before() const {
    for (unsigned i = count_; i-- > 0;) {
      if (const uint64_t* v = before_in(nodes_[i], bytes_[i])) return v;
    }
    return base_;
  }

 private:
  static constexpr unsigned kLevels = 16;
  static constexpr uint64_t kZero = 0;
  unsigned count_ = 0;
  const uint64_t* base_ = &kZero;  // keys before the first entry have version 0
  const Node* nodes_[kLevels];
  uint8_t bytes_[kLevels];
};

inline Slot* find_child(Node* n, uint8_t byte, Slot** pred) {
  const Slot* p = nullptr;
  const Slot* hit = find_child(static_cast<const Node*>(n), byte, &p);
  *pred = const_cast<Slot*>(p);
  return const_cast<Slot*>(hit);
}

// The first child at or after `byte` (<= 255): its byte in *at, or null when none.
inline const Slot* next_child(const Node* n, unsigned byte, unsigned* at) {
  switch (n->type) {
    case Type::k0:
      return nullptr;
    case Type::k4:
    case Type::k16:
    case Type::k32: {
      const uint8_t* keys = sorted_keys(n);
      const Slot* slots = sorted_slots(n);
      for (int i = 0; i < n->count; ++i) {
        if (keys[i] >= byte) {
          *at = keys[i];
          return &slots[i];
        }
      }
      return nullptr;
    }
    case Type::k48: {
      auto* s = static_cast<const Node48*>(n);
      int b = lowest_from(s->bits, byte);
      if (b < 0) return nullptr;
      *at = static_cast<unsigned>(b);
      return &s->slots[s->index[b] - 1];
    }
    case Type::k256: {
      auto* s = static_cast<const Node256*>(n);
      int b = lowest_from(s->bits, byte);
      if (b < 0) return nullptr;
      *at = static_cast<unsigned>(b);
      return &s->slots[b];
    }
  }
  return nullptr;
}

inline Slot* next_child(Node* n, unsigned byte, unsigned* at) {
  return const_cast<Slot*>(next_child(static_cast<const Node*>(n), byte, at));
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

template <class S, class Fn>
inline void visit_sorted(S* s, unsigned first, Fn& fn) {
  int i = 0;
  while (i < s->count && s->keys[i] < first) ++i;
  while (i < s->count) {
    Visit v = fn(unsigned{s->keys[i]}, s->slots[i]);
    if (v == Visit::kStop) return;
    if (v == Visit::kNext) {
      ++i;
      continue;
    }
    for (int j = i + 1; j < s->count; ++j) {  // kRemove: the next child moves into i
      s->keys[j - 1] = s->keys[j];
      s->slots[j - 1] = s->slots[j];
    }
    --s->count;
  }
}

// Calls fn(byte, slot) -> Visit for n's children at or after `first` (<= 255) in byte order,
// one layout at a time: no dispatch and no search per child, unlike a loop of next_child().
// kRemove takes that child out of n as remove_child() does (the layout stays as it is: the
// caller settles n afterwards); kStop ends the walk.
template <class Fn>
inline void visit_children(Node* n, unsigned first, Fn&& fn) {
  switch (n->type) {
    case Type::k0:
      return;
    case Type::k4:
      visit_sorted(static_cast<Node4*>(n), first, fn);
      return;
    case Type::k16:
      visit_sorted(static_cast<Node16*>(n), first, fn);
      return;
    case Type::k32:
      visit_sorted(static_cast<Node32*>(n), first, fn);
      return;
    case Type::k48: {
      auto* m = static_cast<Node48*>(n);
      visit_bits(m->bits, first, [&](unsigned b) {
        unsigned slot = m->index[b] - 1u;
        Visit v = fn(b, m->slots[slot]);
        if (v == Visit::kRemove) take_from_node48(m, b);
        return v != Visit::kStop;
      });
      return;
    }
    case Type::k256: {
      auto* m = static_cast<Node256*>(n);
      visit_bits(m->bits, first, [&](unsigned b) {
        Visit v = fn(b, m->slots[b]);
        if (v == Visit::kRemove) {
          m->slots[b].child = nullptr;
          m->bits[b >> 6] &= ~(uint64_t{1} << (b & 63));
          --m->count;
        }
        return v != Visit::kStop;
      });
      return;
    }
  }
}

// The child with the highest byte, or null.
inline const Slot* last_child(const Node* n) {
  unsigned at;
  const Slot* pred = nullptr;
  if (n->count == 0) return nullptr;
  if (is_sorted_type(n->type)) {
    return next_child(n, 0, &at) + (n->count - 1);
  }
  const Slot* hit = find_child(n, 255, &pred);
  return hit != nullptr ? hit : pred;
}

// Compares `key` from `depth` with the node's prefix: -1 if the key sorts before every key of
// the node's subtree, +1 if after all of them, 0 if it starts with the prefix.
inline int compare_prefix(std::string_view key, size_t depth, const Node* n) {
  size_t avail = key.size() - depth;
  size_t plen = n->prefix_len;
  if (plen >= 8 && plen <= 16 && avail >= plen) {
    // The common case (a table name the key goes on past): equality in two overlapping
    // words, no byte swaps; the order is worked out only when they differ.
    const char* a = key.data() + depth;
    uint64_t x0, y0, x1, y1;
    std::memcpy(&x0, a, 8);
    std::memcpy(&y0, n->inline_prefix, 8);
    std::memcpy(&x1, a + plen - 8, 8);
    std::memcpy(&y1, n->inline_prefix + plen - 8, 8);
    if (((x0 ^ y0) | (x1 ^ y1)) == 0) return 0;
  }
  size_t m = avail < plen ? avail : plen;
  int c = compare_bytes(key.data() + depth, n->prefix(), m);
  if (c != 0) return c;
  return avail < plen ? -1 : 0;
}

// The lines a search of `n` reads, asked for at once rather than one after the other as the
// search reaches them: the header, the line after it (a sorted node's bytes, Node48's and
// Node256's bit sets), and a guess at Node48's index entry for the next key byte (exact when
// the node has no prefix; elsewhere a harmless extra line).
inline void prefetch_node(const Node* n, std::string_view key, size_t depth) {
  if (is_leaf_word(n)) return;  // the answer is in the slot
  const char* p = reinterpret_cast<const char*>(n);
  __builtin_prefetch(p);
  __builtin_prefetch(p + 64);
  if (depth < key.size()) __builtin_prefetch(p + 96 + static_cast<uint8_t>(key[depth]));
}

// Tail of a node's subtree: its last child's tail, or its own entry's range.
inline uint64_t tail_of(const Node* n) {
  const Slot* last = last_child(n);
  return last != nullptr ? last->tail : n->range;
}

}  // namespace art

// The predecessor's version is looked for only when the key is absent (half the reads hit an
// entry); prefetches pay only in a tree larger than the cache.
//
// A Node48 is where a random key most often turns out absent (its children are spread thin
// over 256 bytes), and its children are most often inline leaves: there, neither whether the
// child exists nor whether the key equals the leaf is branched on (both are coin tosses in a
// read of keys half of which are absent). An absent child reads as an empty inline leaf (the
// key compares equal to or after it) in the slot of its closest smaller sibling (named by
// the byte's own index[] entry: one load, no bit search), whose tail is the answer; the
// answer is selected by masks (GCC makes a ternary of these a branch). A key before a present
// leaf, or with no smaller sibling, takes the trail. Only in a tree in cache: in a larger one
// the sibling's slot would be a line to fetch that the key's own path does not need.
template <bool kPrefetch>
inline uint64_t ArtTree::version_in(std::string_view key) const {
  const art::Slot* s = &root_;
  if (s->child == nullptr) return 0;
  art::Trail trail;
  size_t depth = 0;
  for (;;) {
    const art::Node* n = s->child;
    if (art::is_leaf_word(n)) {
      int c = art::compare_leaf(key, depth, n);
      return c == 0 ? s->max_point : c > 0 ? s->tail : *trail.before();
    }
    if (n->prefix_len != 0) {  // most inner nodes have none
      int c = art::compare_prefix(key, depth, n);
      if (c != 0) return c > 0 ? s->tail : *trail.before();
      depth += n->prefix_len;
    }
    // (>=, not ==: depth never passes the key's end, but GCC, inlining this for a literal
    // key, cannot tell and warns about the read below.)
    if (depth >= key.size()) return n->has_entry ? n->point : *trail.before();
    auto byte = static_cast<uint8_t>(key[depth]);
    trail.push(n, byte);
    ++depth;
    if (!kPrefetch && n->type == art::Type::k48) {
      auto* m = static_cast<const art::Node48*>(n);
      unsigned at = m->index[byte];
      if (at == 0) [[unlikely]]
        return *trail.before();  // absent, no smaller sibling
      uint64_t present = uint64_t{0} - ((at >> 7) ^ 1);
      unsigned slot = (at & art::kIndexSlot) - 1u;
      const art::Slot& hit = m->slots[slot];
      // 1: an empty inline leaf (the tag bit, length 0).
      auto word = (reinterpret_cast<uintptr_t>(hit.child) & present) | (1 & ~present);
      const auto* child = reinterpret_cast<const art::Node*>(word);
      if (art::is_leaf_word(child)) {
        art::LeafWords l = art::leaf_words(key, depth, child);
        if (l.key < l.leaf || (l.key == l.leaf && l.key_len < l.leaf_len)) [[unlikely]] {
          return *trail.before();  // before a present leaf
        }
        uint64_t equal = present & (uint64_t{0} - ((l.key == l.leaf) & (l.key_len == l.leaf_len)));
        return (hit.max_point & equal) | (hit.tail & ~equal);
      }
      s = &hit;
    } else {
      s = art::child_at(n, byte);
      if (s == nullptr) return *trail.before();
    }
    if constexpr (kPrefetch) art::prefetch_node(s->child, key, depth);
  }
}

}  // namespace weasel::cset
