#pragma once
// VersionTree: the ordered structure behind ConflictSet (internal to src/commit/conflict_set_*).
//
// Model. The tree is a step function from keys to versions, stored as sorted boundary
// entries. Entry k holds `point` (the version of key k itself) and `range` (the version of
// every key strictly between k and the next entry). Keys before the first entry have version
// 0. Writes only ever raise versions to the newest one, hence range <= point in every entry,
// so the highest version over [b, e) is max(version_at(b), point of every entry in (b, e)).
//
// Layout. A B+tree: leaves hold entries in sorted arrays and are doubly linked; inner nodes
// hold separators and, per child, an upper bound of the highest point version below it, so a
// range check skips every subtree whose bound is not above the read version. Each node
// compares keys by 64-bit heads taken after a prefix that all of its keys share: the common
// prefix of its two fences (the separators around it), or for nodes on the tree's left or
// right edge, whose fences are open, the common prefix of its own keys, verified on search
// (against inline copies of its first 16 bytes). Key lengths sit next to the heads, so a
// search reads a stored key only when two keys agree on all the bytes their heads cover.
// Unused head slots hold the largest head, so a search is a fixed number of branch-free
// halvings.
//
// Summaries may overstate a subtree after entries are erased or collected. That never turns
// into a false conflict as long as every query passes v >= the `oldest` given to collect():
// an erased entry's version was either <= oldest or is still held by some key of the same
// subtree (the range write that erased it covers that key with a newer version).
//
// Ownership: the tree owns its nodes and the key copies in them (memory from its KeyPool and
// NodeSlabs); string_views passed in are copied, never kept. Not thread-safe: one owner.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "commit/conflict_set_key.hpp"
#include "commit/conflict_set_pool.hpp"

// Node capacities are macros so that a test build can make them tiny and drive every split,
// merge and redistribution path with few keys.
#ifndef WEASEL_CSET_LEAF_CAPACITY
#define WEASEL_CSET_LEAF_CAPACITY 32
#endif
#ifndef WEASEL_CSET_INNER_CAPACITY
#define WEASEL_CSET_INNER_CAPACITY 64
#endif

namespace weasel::cset {

inline constexpr int kLeafCapacity = WEASEL_CSET_LEAF_CAPACITY;
inline constexpr int kInnerCapacity = WEASEL_CSET_INNER_CAPACITY;
inline constexpr int kLeafMin = kLeafCapacity / 4 > 1 ? kLeafCapacity / 4 : 1;
inline constexpr int kInnerMin = kInnerCapacity / 4 > 2 ? kInnerCapacity / 4 : 2;
inline constexpr int kMaxHeight = 64;
// Lookups that check() and add_writes() interleave, so that their cache misses overlap.
inline constexpr int kGroup = 32;
// Key lengths are kept next to the heads, saturated at this value.
inline constexpr uint16_t kLenSaturated = UINT16_MAX;
// A node keeps heads taken at a shorter prefix than it could use unless that wastes this many
// of their 8 bytes: re-taking heads reads every key's bytes, a cache miss each.
inline constexpr size_t kReheadGain = 4;
static_assert(kLeafCapacity >= 4 && kLeafCapacity <= 1024);
static_assert(kInnerCapacity >= 4 && kInnerCapacity <= 1024);
// Searches run a fixed number of halvings over all head slots; unused slots hold kNoHead.
static_assert((kLeafCapacity & (kLeafCapacity - 1)) == 0, "a power of two");
static_assert((kInnerCapacity & (kInnerCapacity - 1)) == 0, "a power of two");
inline constexpr uint64_t kNoHead = UINT64_MAX;

struct Node {
  uint16_t count = 0;  // leaf: entries; inner: children (separators = count - 1)
  bool is_leaf = false;
  uint32_t prefix_len = 0;  // every key of the node starts with the same prefix_len bytes
  uint32_t check_from = 0;  // searched keys share [0, check_from) with them (fences)
  // When a search must verify the prefix (check_from < prefix_len): its first 16 bytes as
  // big-endian words, zero-padded, so that the check reads no key.
  uint64_t prefix_words[2] = {0, 0};
};

// Heads and lengths first: a search reads the header, heads and lengths, then one slot of
// the other arrays.
struct alignas(64) Leaf : Node {
  uint64_t heads[kLeafCapacity];  // slots from count on hold kNoHead
  uint16_t lens[kLeafCapacity];
  uint64_t points[kLeafCapacity];
  uint64_t ranges[kLeafCapacity];
  StoredKey keys[kLeafCapacity];
  Leaf* prev = nullptr;
  Leaf* next = nullptr;
};

struct alignas(64) Inner : Node {
  uint64_t heads[kInnerCapacity];  // slots from count - 1 on hold kNoHead
  uint16_t lens[kInnerCapacity - 1];
  Node* children[kInnerCapacity];
  uint64_t max_points[kInnerCapacity];  // upper bound of point versions under each child
  StoredKey seps[kInnerCapacity - 1];   // child i holds keys in [seps[i-1], seps[i])
};

// Root-to-leaf route of one descent: nodes[d] is the inner node at depth d and idx[d] the
// child taken. Valid until the next structural change.
struct Path {
  Inner* nodes[kMaxHeight];
  int idx[kMaxHeight];
};

class VersionTree {
 public:
  // Slice of entries ConflictSet's collection works through at a time: a few leaves.
  static constexpr int kCollectSlice = 2 * kLeafCapacity;

  // huge_pages: ask for huge pages for the nodes (worth it for a large tree; a small scratch
  // tree would pin 2 MiB pages for a few nodes).
  explicit VersionTree(bool huge_pages = true);
  ~VersionTree();
  VersionTree(const VersionTree&) = delete;
  VersionTree& operator=(const VersionTree&) = delete;

  // Version of `key`: its own point version if it is an entry, else the range version of the
  // closest entry before it, else 0.
  uint64_t version_at(std::string_view key) const;
  // version_at for n <= kGroup keys at once, descending level by level with prefetches so
  // that the cache misses of the n descents overlap.
  void versions_at(const std::string_view* keys, int n, uint64_t* out) const;
  // Pulls the leaves that hold n <= kGroup keys into the cache (a hint before writing them).
  void prefetch_leaves(const std::string_view* keys, int n) const;
  // True if some key strictly inside (begin, end) has a version above v (end absent: no upper
  // bound). Precondition: v >= the oldest version last given to collect().
  bool any_above(std::string_view begin, std::optional<std::string_view> end, uint64_t v) const;
  // Upper bound of every version in the tree.
  uint64_t max_version() const { return max_version_; }

  // Sets key's version to v. v must be >= every version already written.
  void write_point(std::string_view key, uint64_t v);
  // write_point(keys[i], versions[i]) for n <= kGroup keys, in order. Versions never
  // decrease along the keys, and the first is >= every version already written. One grouped
  // descent for all of them, so their cache misses overlap, and no other for the keys that
  // are entries already or fit into their leaf without a split.
  void write_points(const std::string_view* keys, const uint64_t* versions, int n);
  // Sets every key in [begin, end) to v (end absent: to the end of the key space); begin < end.
  void write_range(std::string_view begin, std::optional<std::string_view> end, uint64_t v);

  // Garbage collection: examines about `budget` entries from where the last call stopped
  // (wrapping around), removing every entry that no longer changes the answer of a query with
  // v >= oldest. Returns the number of entries examined.
  size_t collect(uint64_t oldest, size_t budget);

  // Removes every entry; the chunks of the freed nodes and keys stay for reuse.
  void clear();

  size_t entry_count() const { return entry_count_; }
  size_t memory_bytes() const;
  int height() const { return height_; }
  // Entries ever inserted; lets the owner pace collection with growth.
  uint64_t inserted_total() const { return inserted_total_; }
  // Walks the whole tree and aborts on any broken invariant (tests only: O(n)).
  void check_invariants() const;

 private:
  struct Bound {
    std::string_view key;
    bool present;
  };

  // Search (conflict_set_tree.cpp).
  const Leaf* find_leaf(std::string_view key) const;
  void find_leaves(const std::string_view* keys, int n, const Leaf** leaves) const;
  Leaf* find_leaf(std::string_view key, Path& path);
  static uint64_t range_before(const Leaf* leaf, int pos);
  bool any_above_in(const Node* node, int depth, Bound lo, Bound hi, uint64_t v) const;
  void raise_path(const Path& path, uint64_t v);
  void write_point_unchecked(std::string_view key, uint64_t v);
  void upsert(std::string_view key, uint64_t point, bool set_range);
  void erase_between(std::string_view begin, std::optional<std::string_view> end);
  std::optional<std::string_view> fence_lo(const Path& path, int depth) const;
  std::optional<std::string_view> fence_hi(const Path& path, int depth) const;

  // Structure (conflict_set_tree_nodes.cpp).
  Leaf* new_leaf();
  Inner* new_inner();
  void free_leaf(Leaf* leaf);
  void free_inner(Inner* inner);
  void free_subtree(Node* node, int depth);
  void insert_entry(Path& path, Leaf* leaf, int pos, std::string_view key, uint64_t point,
                    uint64_t range);
  void insert_child(Path& path, int depth, int idx, StoredKey sep, Node* child,
                    uint64_t child_max);
  void grow_root(Node* left, Node* right, StoredKey sep, uint64_t left_max,
                 uint64_t right_max);
  void erase_entries(Leaf* leaf, int begin, int end);
  void rebalance(Path& path, int depth);
  void merge_children(Path& path, int parent_depth, int left_idx);
  void redistribute_leaves(Path& path, int parent_depth, int left_idx);
  void redistribute_inners(Path& path, int parent_depth, int left_idx);
  void replace_separator(Inner* inner, int idx, StoredKey sep);
  void refit_pair(Path& path, int parent_depth, int left, int64_t heads_at);
  std::optional<std::string_view> child_lo(const Path& path, int depth, int idx) const;
  std::optional<std::string_view> child_hi(const Path& path, int depth, int idx) const;
  void apply_prefix_rule(Node* node, std::optional<std::string_view> lo,
                         std::optional<std::string_view> hi, int64_t heads_at);
  void admit_key(Node* node, std::string_view key);
  StoredKey make_separator(std::string_view left_last, std::string_view right_first);
  void check_node(const Node* node, int depth, std::optional<std::string_view> lo,
                  std::optional<std::string_view> hi, const Leaf*& prev_leaf,
                  uint64_t& max_point, size_t& entries, size_t& heap_bytes) const;

  Node* root_ = nullptr;
  int height_ = 0;  // inner levels above the leaves
  uint64_t max_version_ = 0;
  size_t entry_count_ = 0;
  KeyPool keys_;
  NodeSlab<Leaf> leaves_;
  NodeSlab<Inner> inners_;
  uint64_t inserted_total_ = 0;
  std::string gc_cursor_;     // collect() resumes at the first entry >= this key
  std::string erase_cursor_;  // scratch for erase_between
};

// Node-level search shared by the two .cpp files: the number of keys <= `key` among
// keys[0, n) and whether the last of them equals it. `key` must lie within the node's fences.
struct SearchResult {
  int pos;
  bool eq;
};

// First i with heads[i] >= h among kSlots sorted heads (unused slots hold kNoHead, which
// is >= any h, so the answer never passes the used ones). Branch-free with a fixed number of
// steps: the comparisons follow random keys, so a branch would be mispredicted half the time.
template <int kSlots>
inline int lower_bound_heads(const uint64_t* heads, uint64_t h) {
  size_t base = 0;
  for (size_t half = kSlots / 2; half > 0; half /= 2) {
    base += static_cast<size_t>(heads[base + half - 1] < h) * half;
  }
  return static_cast<int>(base + static_cast<size_t>(heads[base] < h));
}

inline uint16_t saturated_len(size_t len) {
  return len < kLenSaturated ? static_cast<uint16_t>(len) : kLenSaturated;
}

// compare_to_prefix against the node's prefix, from its inline words when they suffice.
inline int compare_to_node_prefix(std::string_view key, const Node* node, const StoredKey& first) {
  size_t prefix = node->prefix_len;
  for (size_t w = 0; w < 2 && w * 8 < prefix; ++w) {
    size_t bytes = std::min<size_t>(8, prefix - w * 8);
    uint64_t mask = ~uint64_t{0} << (64 - 8 * bytes);
    uint64_t x = load_head(key, w * 8) & mask;
    uint64_t y = node->prefix_words[w];
    if (x != y) return x < y ? -1 : 1;
  }
  if (prefix > 16) return compare_to_prefix(key, first.view(), 16, prefix);
  return key.size() < prefix ? -1 : 0;
}

template <int kSlots>
[[gnu::always_inline]] inline SearchResult search_node(const uint64_t* heads,
                                                       const uint16_t* lens,
                                                       const StoredKey* keys, int n,
                                                       const Node* node, std::string_view key) {
  uint32_t prefix = node->prefix_len;
  if (node->check_from < prefix && n > 0) {
    int c = compare_to_node_prefix(key, node, keys[0]);
    if (c < 0) return {0, false};
    if (c > 0) return {n, false};
  }
  uint64_t h = load_head(key, prefix);
  int i = lower_bound_heads<kSlots>(heads, h);
  size_t head_end = size_t{prefix} + 8;
  while (i < n && heads[i] == h) {
    int c;
    if (lens[i] <= head_end && lens[i] != kLenSaturated && key.size() <= head_end) {
      // Both keys end within the head: equal heads, so only the lengths can differ.
      c = (lens[i] > key.size()) - (lens[i] < key.size());
    } else {
      c = tie_compare(keys[i].view(), key, prefix);
    }
    if (c > 0) break;
    ++i;
    if (c == 0) return {i, true};
  }
  return {i, false};
}

[[gnu::always_inline]] inline SearchResult search_leaf(const Leaf* leaf, std::string_view key) {
  return search_node<kLeafCapacity>(leaf->heads, leaf->lens, leaf->keys, leaf->count, leaf,
                                    key);
}

// Index of the child whose range holds `key`.
[[gnu::always_inline]] inline int search_inner(const Inner* inner, std::string_view key) {
  return search_node<kInnerCapacity>(inner->heads, inner->lens, inner->seps, inner->count - 1,
                                     inner, key)
      .pos;
}

// Asks for the lines a search of `node` reads, all at once instead of one at a time as the
// binary search reaches them; `whole` asks for all of it (it is about to be written).
// The caller says whether it is a leaf: reading that from the node would wait for the miss.
template <size_t kBytes>
[[gnu::always_inline]] inline void prefetch_bytes(const void* node) {
  const char* p = static_cast<const char*>(node);
  for (size_t offset = 0; offset < kBytes; offset += 64) __builtin_prefetch(p + offset);
}

inline void prefetch_node(const Node* node, bool is_leaf, bool whole) {
  // A search reads the header and heads (lengths and keys only on ties, rare), then one child
  // pointer or one version: ask for the header and heads.
  constexpr size_t kLeafSearchBytes = sizeof(Node) + 8 * kLeafCapacity;
  constexpr size_t kInnerSearchBytes = sizeof(Node) + 8 * kInnerCapacity;
  if (whole) {
    if (is_leaf) {
      prefetch_bytes<sizeof(Leaf)>(node);
    } else {
      prefetch_bytes<sizeof(Inner)>(node);
    }
  } else if (is_leaf) {
    prefetch_bytes<kLeafSearchBytes>(node);
  } else {
    prefetch_bytes<kInnerSearchBytes>(node);
  }
}

}  // namespace weasel::cset
