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
// Versions. Slots and entries hold versions in 32 bits, relative to a tree-wide base, so a
// slot is 16 bytes (a 1M-key tree: 35 MiB of nodes instead of 46, mostly inline leaves in
// their parents' slots). A version at or below the base is stored as the base (0). That
// changes no answer: the base never passes the floor, the oldest version the owner still
// asks about (set_floor(), collect()): every query's v is >= floor >= base (older reads are
// too old), and a conflict is "stored version > v", false for a version <= base both before
// and after clamping it up to the base. Above the base, versions are exact, so tails stay
// exact and max_point stays an upper bound for every version > base, as below requires. A
// write at v with v - base > 2^32 - 1 first rebases: one walk over the tree rewrites every
// stored version for base = floor (rebase()); the owner keeps v - floor below 2^32
// (ConflictSet bounds its window to 2^31 versions, so a rebase buys 2^31 versions at least).
// Queries translate their version once (rel_query) and answers go back as base + stored.
//
// Bounds (max_point) of large nodes may overstate a subtree after entries are erased or
// collected; tails are always exact. An overstated bound never turns into a false conflict
// for a caller that checks version_at(begin) and then any_above() (as ConflictSet does), with
// v >= the floor (the `oldest` given to collect() or set_floor()): an erased entry's version
// was <= oldest, or a key of the same subtree still has a version at least as high (the
// range write that erased it, or the predecessor's range that made it redundant, covers that
// key), and a subtree that any_above() judges by its bound lies wholly inside the range asked
// about.
//
// Ownership: the tree owns its nodes (NodeSlabs, one per layout) and prefixes longer than 40
// bytes (its KeyPool); string_views passed in are copied into prefixes, never kept. Not
// thread-safe for writers: one owner. Const members touch no shared scratch, so concurrent
// readers are safe while nobody writes.

#include <algorithm>
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

// A version as stored: relative to the tree's base (ArtTree::base_), versions at or below
// the base clamped to 0 (see "Versions" above).
using Rel = uint32_t;
inline constexpr uint64_t kMaxRel = UINT32_MAX;

// 16 bytes: four to a cache line.
struct Slot {
  Node* child;    // or an inline leaf (is_leaf_word)
  Rel max_point;  // upper bound of the point versions in the child's subtree
  Rel tail;       // range version of the last entry in the child's subtree
};

// 64 bytes: a Node0 (the typical leaf) is one cache line.
struct alignas(64) Node {
  Type type;
  bool has_entry;
  uint16_t count;  // children
  uint32_t prefix_len;
  Rel point;  // the entry, when has_entry
  Rel range;
  union {
    uint8_t inline_prefix[kInlinePrefix];
    uint8_t* heap_prefix;  // prefix_len > kInlinePrefix: from the tree's KeyPool
  };
  const uint8_t* prefix() const { return prefix_len > kInlinePrefix ? heap_prefix : inline_prefix; }
};

struct Node0 : Node {};

}  // namespace art
}  // namespace weasel::cset

#include "commit/conflict_set_art_bytes.hpp"   // needs Node above
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
  // About 1 MiB of nodes (inline leaves take 16 bytes each, their parents' headers a few more).
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
    return base_ + (!grouping_pays() ? version_in<false>(key) : version_far(key));
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

  // Versions at or below `oldest` will never be asked about again (every caller's v is >= it
  // from now on): the tree may store them as `oldest` (raises only; collect() raises it too).
  // Writes need v - floor() <= art::kMaxRel.
  void set_floor(uint64_t oldest) { floor_ = std::max(floor_, oldest); }
  uint64_t floor() const { return floor_; }
  // The version stored as 0 (tests and diagnostics): <= floor().
  uint64_t base() const { return base_; }
  // Times the slots were rewritten for a higher base (tests and diagnostics).
  uint64_t rebases() const { return rebases_; }

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
    art::Rel before;  // version of the keys just before the key
  };
  // Where upsert() left the key's entry: in a node, or inline in a slot.
  struct Entry {
    art::Node* node;
    art::Slot* leaf;
  };
  struct GcState {
    art::Rel oldest;
    size_t budget;
    size_t examined;
    art::Rel pred;  // range version of the last entry kept before the current one
    bool stopped;
    size_t removed;
  };

  // Queries and writes (conflict_set_art.cpp).
  Lookup lookup(std::string_view key) const;
  template <bool kPrefetch>
  [[gnu::always_inline]] art::Rel version_in(std::string_view key) const;
  art::Rel version_far(std::string_view key) const;  // version_in<true>, out of line
  bool any_above_in(const art::Slot& s, size_t depth, std::string_view lo, bool lo_on,
                    std::string_view hi, bool hi_on, art::Rel v) const;
  // v as stored: v must be <= max_version_ (a write makes room for it first: fit()).
  art::Rel rel(uint64_t v) const {
    WEASEL_ASSERT(v <= base_ || v - base_ <= art::kMaxRel);
    return v <= base_ ? 0 : static_cast<art::Rel>(v - base_);
  }
  // A query's version as stored: v >= floor_, and any v past the stored range compares alike.
  art::Rel rel_query(uint64_t v) const {
    return v <= base_ ? 0 : static_cast<art::Rel>(std::min<uint64_t>(v - base_, art::kMaxRel));
  }
  // Makes room for a write at v (see fit_far); inline, so that a write pays one compare.
  void fit(uint64_t v) {
    if (v - base_ > art::kMaxRel) [[unlikely]]
      fit_far(v);
  }
  [[gnu::noinline, gnu::cold]] void fit_far(uint64_t v);
  [[gnu::noinline, gnu::cold]] void write_point_far(std::string_view key, uint64_t v);
  void rebase(uint64_t base);
  template <bool kPath, bool kNewest>
  Entry upsert(std::string_view key, art::Rel point);
  art::Node* materialize(const art::Slot& s);
  void inline_if_small(art::Slot& s);
  Entry split(art::Slot* s, size_t depth, size_t at, std::string_view key, art::Rel point,
              art::Rel pred);
  Entry split_leaf(art::Slot* s, size_t depth, std::string_view key, art::Rel point, art::Rel pred);
  Entry take_new_entry(art::Node* n, art::Rel point, art::Rel pred);
  // Where the entry of the key in `slot` lives: the inline leaf, or the child node's entry.
  static Entry entry_in(art::Slot* slot);
  art::Slot new_leaf(std::string_view key, size_t from, art::Rel point, art::Rel range);
  void erase_in(art::Slot& s, size_t depth, std::string_view lo, bool lo_on, std::string_view hi,
                bool hi_on);
  void refresh_tails();

  // Collection (conflict_set_art_collect.cpp).
  void collect_in(art::Slot& s, size_t depth, bool lo_on, GcState& st);
  template <class Wide>
  void collect_wide(Wide* m, unsigned first, bool lo_in, size_t depth, GcState& st);
  void collect_sorted(art::Node* n, unsigned first, bool lo_in, size_t depth, GcState& st);
  int collect_leaves(art::Slot& c, art::Rel oldest, art::Rel& pred, size_t& left);
  art::Visit collect_child(art::Node* n, unsigned at, art::Slot& c, size_t depth, bool lo_on,
                           GcState& st);
  void collect_leaf(art::Slot& s, size_t depth, bool lo_on, GcState& st);
  bool examine_leaf(art::Slot& s, GcState& st);
  void append_leaf_bytes(const art::Node* word);

  // Nodes (conflict_set_art_nodes.cpp).
  art::Node* make_node(art::Type type);
  art::Node* make_leaf(std::string_view key, size_t from, art::Rel point, art::Rel range);
  static void rebase_subtree(art::Slot& s, uint64_t delta);
  void free_node(art::Node* n);       // the node only, not its prefix
  size_t free_subtree(art::Node* n);  // returns the entries freed
  void set_prefix(art::Node* n, const uint8_t* bytes, size_t len);
  void release_prefix(art::Node* n);
  art::Node* retype(art::Node* n, art::Type type);
  void add_child(art::Slot& s, uint8_t byte, const art::Slot& child);
  void remove_child(art::Node* n, uint8_t byte);
  void settle(art::Slot& s, bool exact_max = true);
  void check_node(const art::Slot& s, std::string& key, art::Rel before, size_t& entries,
                  size_t& heap_bytes, art::Rel& last_range) const;

  art::Slot root_{nullptr, 0, 0};
  size_t node32_from_entries_;
  uint64_t max_version_ = 0;
  uint64_t base_ = 0;   // the version stored as 0 (every stored version is relative to it)
  uint64_t floor_ = 0;  // the base may rise up to here
  uint64_t rebases_ = 0;
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
inline const Rel* before_in(const Node* n, uint8_t byte) {
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
  const Rel* before() const {
    for (unsigned i = count_; i-- > 0;) {
      if (const Rel* v = before_in(nodes_[i], bytes_[i])) return v;
    }
    return base_;
  }

 private:
  static constexpr unsigned kLevels = 16;
  static constexpr Rel kZero = 0;
  unsigned count_ = 0;
  const Rel* base_ = &kZero;  // keys before the first entry have version 0
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
inline Rel tail_of(const Node* n) {
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
inline art::Rel ArtTree::version_in(std::string_view key) const {
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
        auto equal = static_cast<uint32_t>(present) &
                     (uint32_t{0} - ((l.key == l.leaf) & (l.key_len == l.leaf_len)));
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
