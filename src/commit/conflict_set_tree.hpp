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
// right edge, whose fences are open, the common prefix of its own keys, verified on search.
//
// Summaries may overstate a subtree after entries are erased or collected. That never turns
// into a false conflict as long as every query passes v >= the `oldest` given to collect():
// an erased entry's version was either <= oldest or is still held by some key of the same
// subtree (the range write that erased it covers that key with a newer version).
//
// Ownership: the tree owns its nodes and the key copies in them; string_views passed in are
// copied, never kept. Not thread-safe: one owner (the resolver thread).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "commit/conflict_set_key.hpp"

// Node capacities are macros so that a test build can make them tiny and drive every split,
// merge and redistribution path with few keys.
#ifndef WEASEL_CSET_LEAF_CAPACITY
#define WEASEL_CSET_LEAF_CAPACITY 32
#endif
#ifndef WEASEL_CSET_INNER_CAPACITY
#define WEASEL_CSET_INNER_CAPACITY 32
#endif

namespace weasel::cset {

inline constexpr int kLeafCapacity = WEASEL_CSET_LEAF_CAPACITY;
inline constexpr int kInnerCapacity = WEASEL_CSET_INNER_CAPACITY;
inline constexpr int kLeafMin = kLeafCapacity / 4 > 1 ? kLeafCapacity / 4 : 1;
inline constexpr int kInnerMin = kInnerCapacity / 4 > 2 ? kInnerCapacity / 4 : 2;
inline constexpr int kMaxHeight = 64;
static_assert(kLeafCapacity >= 3 && kLeafCapacity <= 1024);
static_assert(kInnerCapacity >= 4 && kInnerCapacity <= 1024);

struct Node {
  uint16_t count = 0;  // leaf: entries; inner: children (separators = count - 1)
  bool is_leaf = false;
  uint32_t prefix_len = 0;  // heads are the 8 key bytes at this offset
  uint32_t check_from = 0;  // bytes [check_from, prefix_len) are not implied by the fences
};

// Heads first: a search touches the header and heads, then one slot of the other arrays.
struct alignas(64) Leaf : Node {
  uint64_t heads[kLeafCapacity];
  uint64_t points[kLeafCapacity];
  uint64_t ranges[kLeafCapacity];
  StoredKey keys[kLeafCapacity];
  Leaf* prev = nullptr;
  Leaf* next = nullptr;
};

struct alignas(64) Inner : Node {
  uint64_t heads[kInnerCapacity - 1];
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
  VersionTree();
  ~VersionTree();
  VersionTree(const VersionTree&) = delete;
  VersionTree& operator=(const VersionTree&) = delete;

  // Version of `key`: its own point version if it is an entry, else the range version of the
  // closest entry before it, else 0.
  uint64_t version_at(std::string_view key) const;
  // True if some key strictly inside (begin, end) has a version above v (end absent: no upper
  // bound). Precondition: v >= the oldest version last given to collect().
  bool any_above(std::string_view begin, std::optional<std::string_view> end, uint64_t v) const;
  // Upper bound of every version in the tree.
  uint64_t max_version() const { return max_version_; }

  // Sets key's version to v. v must be >= every version already written.
  void write_point(std::string_view key, uint64_t v);
  // Sets every key in [begin, end) to v (end absent: to the end of the key space); begin < end.
  void write_range(std::string_view begin, std::optional<std::string_view> end, uint64_t v);

  // Garbage collection: examines about `budget` entries from where the last call stopped
  // (wrapping around), removing every entry that no longer changes the answer of a query with
  // v >= oldest. Returns the number of entries examined.
  size_t collect(uint64_t oldest, size_t budget);

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
  Leaf* find_leaf(std::string_view key, Path& path);
  static uint64_t range_before(const Leaf* leaf, int pos);
  bool any_above_in(const Node* node, int depth, Bound lo, Bound hi, uint64_t v) const;
  void raise_path(const Path& path, uint64_t v);
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
  void split_inner(Path& path, int depth);
  void erase_entries(Leaf* leaf, int begin, int end);
  void rebalance(Path& path, int depth);
  void merge_children(Path& path, int parent_depth, int left_idx);
  void redistribute_leaves(Path& path, int parent_depth, int left_idx);
  void redistribute_inners(Path& path, int parent_depth, int left_idx);
  void replace_separator(Inner* inner, int idx, StoredKey sep);
  void apply_prefix_rule(Node* node, std::optional<std::string_view> lo,
                         std::optional<std::string_view> hi);
  void admit_key(Node* node, std::string_view key);
  StoredKey make_separator(std::string_view left_last, std::string_view right_first);
  void check_node(const Node* node, int depth, std::optional<std::string_view> lo,
                  std::optional<std::string_view> hi, const Leaf*& prev_leaf,
                  uint64_t& max_point, size_t& entries, size_t& heap_bytes) const;

  Node* root_;
  int height_ = 0;  // inner levels above the leaves
  uint64_t max_version_ = 0;
  size_t entry_count_ = 0;
  size_t leaf_count_ = 0;
  size_t inner_count_ = 0;
  size_t key_heap_bytes_ = 0;
  uint64_t inserted_total_ = 0;
  std::string gc_cursor_;     // collect() resumes at the first entry >= this key
  std::string erase_cursor_;  // scratch for erase_between
  std::string scratch_;       // scratch for separators
};

// Node-level search shared by the two .cpp files: the number of keys <= `key` among
// keys[0, n) and whether the last of them equals it. `key` must lie within the node's fences.
struct SearchResult {
  int pos;
  bool eq;
};

inline int lower_bound_heads(const uint64_t* heads, int n, uint64_t h) {
  if (n == 0) return 0;
  const uint64_t* base = heads;
  int len = n;
  while (len > 1) {
    int half = len / 2;
    base = base[half - 1] < h ? base + half : base;
    len -= half;
  }
  return static_cast<int>(base - heads) + (*base < h ? 1 : 0);
}

inline SearchResult search_node(const uint64_t* heads, const StoredKey* keys, int n,
                                const Node* node, std::string_view key) {
  uint32_t prefix = node->prefix_len;
  if (node->check_from < prefix && n > 0) {
    int c = compare_to_prefix(key, keys[0].view(), node->check_from, prefix);
    if (c < 0) return {0, false};
    if (c > 0) return {n, false};
  }
  uint64_t h = load_head(key, prefix);
  int i = lower_bound_heads(heads, n, h);
  while (i < n && heads[i] == h) {
    int c = tie_compare(keys[i].view(), key, prefix);
    if (c > 0) break;
    ++i;
    if (c == 0) return {i, true};
  }
  return {i, false};
}

inline SearchResult search_leaf(const Leaf* leaf, std::string_view key) {
  return search_node(leaf->heads, leaf->keys, leaf->count, leaf, key);
}

// Index of the child whose range holds `key`.
inline int search_inner(const Inner* inner, std::string_view key) {
  return search_node(inner->heads, inner->seps, inner->count - 1, inner, key).pos;
}

}  // namespace weasel::cset
