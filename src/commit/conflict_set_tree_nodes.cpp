// VersionTree node surgery: allocation, insertion with splits, rebalancing after erasure
// (merge or redistribute with a sibling), node prefixes, and the invariant walk for tests.
//
// Fences: a node's keys lie in [lo, hi), the separators around it in its ancestors (absent on
// the tree's edges). Splits and rebalancing are the only operations that move a node's
// fences, and they recompute the node's prefix there (apply_prefix_rule).

#include <algorithm>
#include <cstring>

#include "commit/conflict_set_tree.hpp"

namespace weasel::cset {
namespace {

uint64_t max_of(const uint64_t* values, int n) {
  uint64_t m = 0;
  for (int i = 0; i < n; ++i) m = std::max(m, values[i]);
  return m;
}

template <class T>
void move(T* dst, int to, const T* src, int from, int count) {
  if (count > 0) std::memmove(dst + to, src + from, sizeof(T) * static_cast<size_t>(count));
}

// Moves `count` entries of leaf `src`, from `from` on, to leaf `dst` at `to` (possibly the
// same leaf: overlapping moves are fine).
void move_entries(Leaf* dst, int to, const Leaf* src, int from, int count) {
  move(dst->heads, to, src->heads, from, count);
  move(dst->lens, to, src->lens, from, count);
  move(dst->keys, to, src->keys, from, count);
  move(dst->points, to, src->points, from, count);
  move(dst->ranges, to, src->ranges, from, count);
}

void move_seps(Inner* dst, int to, const Inner* src, int from, int count) {
  move(dst->heads, to, src->heads, from, count);
  move(dst->lens, to, src->lens, from, count);
  move(dst->seps, to, src->seps, from, count);
}

void move_children(Inner* dst, int to, const Inner* src, int from, int count) {
  move(dst->children, to, src->children, from, count);
  move(dst->max_points, to, src->max_points, from, count);
}

// Puts separator `sep` at slot `idx` of `inner`, with its head at the node's prefix.
void place_sep(Inner* inner, int idx, StoredKey sep) {
  inner->seps[idx] = sep;
  std::string_view k = inner->seps[idx].view();
  inner->heads[idx] = load_head(k, inner->prefix_len);
  inner->lens[idx] = saturated_len(k.size());
}

int key_count(const Node* node);
StoredKey* keys_of(Node* node);

void set_prefix_words(Node* node) {
  node->prefix_words[0] = node->prefix_words[1] = 0;
  if (node->check_from >= node->prefix_len || key_count(node) == 0) return;
  std::string_view first = keys_of(node)[0].view();
  for (size_t w = 0; w < 2 && w * 8 < node->prefix_len; ++w) {
    size_t bytes = std::min<size_t>(8, node->prefix_len - w * 8);
    node->prefix_words[w] = load_head(first, w * 8) & (~uint64_t{0} << (64 - 8 * bytes));
  }
}

// The keys of a node, uniformly for leaves and inner nodes.
StoredKey* keys_of(Node* node) {
  return node->is_leaf ? static_cast<Leaf*>(node)->keys : static_cast<Inner*>(node)->seps;
}
uint64_t* heads_of(Node* node) {
  return node->is_leaf ? static_cast<Leaf*>(node)->heads : static_cast<Inner*>(node)->heads;
}
int key_count(const Node* node) { return node->is_leaf ? node->count : node->count - 1; }

// Re-takes the heads at the node's prefix, and its inline prefix words when searches use them.
void rehead(Node* node) {
  StoredKey* keys = keys_of(node);
  uint64_t* heads = heads_of(node);
  for (int i = 0; i < key_count(node); ++i) heads[i] = load_head(keys[i].view(), node->prefix_len);
  set_prefix_words(node);
}

// Refills the unused head slots after a node lost keys (searches rely on them).
void pad_heads(Node* node) {
  int slots = node->is_leaf ? kLeafCapacity : kInnerCapacity;
  uint64_t* heads = heads_of(node);
  for (int i = key_count(node); i < slots; ++i) heads[i] = kNoHead;
}

// The prefix two nodes' heads share, or -1 when they differ (then they must be re-taken).
int64_t common_heads(const Node* a, const Node* b) {
  return a->prefix_len == b->prefix_len ? a->prefix_len : -1;
}

}  // namespace

Leaf* VersionTree::new_leaf() {
  Leaf* leaf = leaves_.make();
  leaf->is_leaf = true;
  pad_heads(leaf);
  return leaf;
}

Inner* VersionTree::new_inner() {
  Inner* inner = inners_.make();
  inner->count = 1;  // no separator yet
  pad_heads(inner);
  inner->count = 0;
  return inner;
}

// Only the node itself: its keys were released or moved elsewhere before.
void VersionTree::free_leaf(Leaf* leaf) {
  leaves_.recycle(leaf);
}

void VersionTree::free_inner(Inner* inner) {
  inners_.recycle(inner);
}

void VersionTree::free_subtree(Node* node, int depth) {
  if (depth == height_) {
    Leaf* leaf = static_cast<Leaf*>(node);
    for (int i = 0; i < leaf->count; ++i) leaf->keys[i].release(keys_);
    free_leaf(leaf);
    return;
  }
  Inner* inner = static_cast<Inner*>(node);
  for (int i = 0; i < inner->count - 1; ++i) inner->seps[i].release(keys_);
  for (int i = 0; i < inner->count; ++i) free_subtree(inner->children[i], depth + 1);
  free_inner(inner);
}

// Nodes with both fences share their common prefix: no search ever needs to look at it.
// Edge nodes take the common prefix of their own keys instead; searches verify it and
// insertions shrink it (admit_key) when a key outside it arrives. `heads_at` is the prefix
// the node's heads were taken at (-1: unknown); they stay when still valid and nearly as
// discriminating, which spares reading every key.
void VersionTree::apply_prefix_rule(Node* node, std::optional<std::string_view> lo,
                                    std::optional<std::string_view> hi, int64_t heads_at) {
  size_t target = 0;
  if (lo && hi) {
    target = common_prefix(*lo, *hi);
    node->check_from = static_cast<uint32_t>(target);
  } else {
    StoredKey* keys = keys_of(node);
    int n = key_count(node);
    if (n > 0) target = common_prefix(keys[0].view(), keys[n - 1].view());
    node->check_from = 0;
  }
  if (heads_at >= 0 && static_cast<size_t>(heads_at) <= target &&
      target - static_cast<size_t>(heads_at) < kReheadGain) {
    node->prefix_len = static_cast<uint32_t>(heads_at);
    set_prefix_words(node);
    return;
  }
  node->prefix_len = static_cast<uint32_t>(target);
  rehead(node);
}

// Must run before `key` joins the node, while its keys still show the current prefix.
void VersionTree::admit_key(Node* node, std::string_view key) {
  if (node->check_from >= node->prefix_len) return;  // implied by the fences
  int n = key_count(node);
  size_t shared = n == 0 ? 0 : common_prefix(key, keys_of(node)[0].view());
  if (shared >= node->prefix_len) return;
  node->prefix_len = static_cast<uint32_t>(shared);
  rehead(node);
}

// The shortest key s with left_last < s <= right_first: short separators keep inner nodes
// small and their fences' common prefixes long.
StoredKey VersionTree::make_separator(std::string_view left_last, std::string_view right_first) {
  size_t shared = common_prefix(left_last, right_first);
  WEASEL_ASSERT(shared < right_first.size());
  return StoredKey::make(right_first.substr(0, shared + 1), keys_);
}

void VersionTree::insert_entry(Path& path, Leaf* leaf, int pos, std::string_view key,
                               uint64_t point, uint64_t range) {
  WEASEL_ASSERT(range <= point);
  Leaf* target = leaf;
  Leaf* right = nullptr;
  StoredKey sep;
  if (leaf->count == kLeafCapacity) {
    right = new_leaf();
    int mid = kLeafCapacity / 2;
    right->count = static_cast<uint16_t>(kLeafCapacity - mid);
    move_entries(right, 0, leaf, mid, right->count);
    leaf->count = static_cast<uint16_t>(mid);
    pad_heads(leaf);
    right->next = leaf->next;
    if (right->next != nullptr) right->next->prev = right;
    right->prev = leaf;
    leaf->next = right;
    sep = make_separator(leaf->keys[mid - 1].view(), right->keys[0].view());
    int64_t heads_at = leaf->prefix_len;
    apply_prefix_rule(leaf, fence_lo(path, height_), sep.view(), heads_at);
    apply_prefix_rule(right, sep.view(), fence_hi(path, height_), heads_at);
    if (compare_keys(key, sep.view()) >= 0) {
      target = right;
      pos -= mid;
    }
  }
  WEASEL_ASSERT(pos >= 0 && pos <= target->count);
  admit_key(target, key);
  move_entries(target, pos + 1, target, pos, target->count - pos);
  target->keys[pos] = StoredKey::make(key, keys_);
  target->heads[pos] = load_head(key, target->prefix_len);
  target->lens[pos] = saturated_len(key.size());
  target->points[pos] = point;
  target->ranges[pos] = range;
  ++target->count;
  ++entry_count_;
  ++inserted_total_;
  if (right == nullptr) return;
  uint64_t left_max = max_of(leaf->points, leaf->count);
  uint64_t right_max = max_of(right->points, right->count);
  if (height_ == 0) {
    grow_root(leaf, right, sep, left_max, right_max);
    return;
  }
  path.nodes[height_ - 1]->max_points[path.idx[height_ - 1]] = left_max;
  insert_child(path, height_ - 1, path.idx[height_ - 1], sep, right, right_max);
}

// A new root above the two halves of the old one.
void VersionTree::grow_root(Node* left, Node* right, StoredKey sep, uint64_t left_max,
                            uint64_t right_max) {
  WEASEL_ASSERT(height_ + 1 < kMaxHeight);
  Inner* root = new_inner();
  root->count = 2;
  root->children[0] = left;
  root->children[1] = right;
  root->max_points[0] = left_max;
  root->max_points[1] = right_max;
  place_sep(root, 0, sep);
  apply_prefix_rule(root, std::nullopt, std::nullopt, -1);
  root_ = root;
  ++height_;
}

// Inserts `sep` after child `idx` of the inner node at `depth`, followed by `child`. Splits
// the node first when it is full, which inserts into the level above in turn.
void VersionTree::insert_child(Path& path, int depth, int idx, StoredKey sep, Node* child,
                               uint64_t child_max) {
  Inner* inner = path.nodes[depth];
  Inner* target = inner;
  Inner* right = nullptr;
  StoredKey up;
  if (inner->count == kInnerCapacity) {
    right = new_inner();
    int mid = kInnerCapacity / 2;  // inner keeps children [0, mid), right takes the rest
    right->count = static_cast<uint16_t>(kInnerCapacity - mid);
    move_children(right, 0, inner, mid, right->count);
    move_seps(right, 0, inner, mid, right->count - 1);
    up = inner->seps[mid - 1];
    inner->count = static_cast<uint16_t>(mid);
    pad_heads(inner);
    int64_t heads_at = inner->prefix_len;
    apply_prefix_rule(inner, fence_lo(path, depth), up.view(), heads_at);
    apply_prefix_rule(right, up.view(), fence_hi(path, depth), heads_at);
    if (idx >= mid) {
      target = right;
      idx -= mid;
    }
  }
  WEASEL_ASSERT(idx >= 0 && idx < target->count);
  admit_key(target, sep.view());
  int seps_after = target->count - 1 - idx;
  move_seps(target, idx + 1, target, idx, seps_after);
  move_children(target, idx + 2, target, idx + 1, seps_after);
  place_sep(target, idx, sep);
  target->children[idx + 1] = child;
  target->max_points[idx + 1] = child_max;
  ++target->count;
  if (right == nullptr) return;
  uint64_t left_max = max_of(inner->max_points, inner->count);
  uint64_t right_max = max_of(right->max_points, right->count);
  if (depth == 0) {
    grow_root(inner, right, up, left_max, right_max);
    return;
  }
  path.nodes[depth - 1]->max_points[path.idx[depth - 1]] = left_max;
  insert_child(path, depth - 1, path.idx[depth - 1], up, right, right_max);
}

void VersionTree::erase_entries(Leaf* leaf, int begin, int end) {
  WEASEL_ASSERT(0 <= begin && begin <= end && end <= leaf->count);
  for (int i = begin; i < end; ++i) leaf->keys[i].release(keys_);
  move_entries(leaf, begin, leaf, end, leaf->count - end);
  leaf->count = static_cast<uint16_t>(leaf->count - (end - begin));
  pad_heads(leaf);
  entry_count_ -= static_cast<size_t>(end - begin);
}

// The node at `depth` on `path` may have lost keys: restore the minimum fill by merging with
// or borrowing from a sibling, walking up while merges empty the parents.
void VersionTree::rebalance(Path& path, int depth) {
  for (; depth > 0; --depth) {
    Inner* parent = path.nodes[depth - 1];
    Node* node = parent->children[path.idx[depth - 1]];
    int min = node->is_leaf ? kLeafMin : kInnerMin;
    int capacity = node->is_leaf ? kLeafCapacity : kInnerCapacity;
    if (node->count >= min) return;
    WEASEL_ASSERT(parent->count >= 2);
    int left = std::max(0, path.idx[depth - 1] - 1);
    if (parent->children[left]->count + parent->children[left + 1]->count <= capacity) {
      merge_children(path, depth - 1, left);
      continue;
    }
    if (node->is_leaf) {
      redistribute_leaves(path, depth - 1, left);
    } else {
      redistribute_inners(path, depth - 1, left);
    }
    return;
  }
  while (height_ > 0 && root_->count == 1) {
    Inner* old = static_cast<Inner*>(root_);
    root_ = old->children[0];
    free_inner(old);
    --height_;
    apply_prefix_rule(root_, std::nullopt, std::nullopt, root_->prefix_len);
  }
}

// The fences of child `idx` of the inner node at `depth` on `path`.
std::optional<std::string_view> VersionTree::child_lo(const Path& path, int depth,
                                                      int idx) const {
  return idx > 0 ? std::optional(path.nodes[depth]->seps[idx - 1].view()) : fence_lo(path, depth);
}
std::optional<std::string_view> VersionTree::child_hi(const Path& path, int depth,
                                                      int idx) const {
  const Inner* inner = path.nodes[depth];
  return idx + 1 < inner->count ? std::optional(inner->seps[idx].view()) : fence_hi(path, depth);
}

// Child left+1 of the parent at `parent_depth` moves into child `left`.
void VersionTree::merge_children(Path& path, int parent_depth, int left) {
  Inner* parent = path.nodes[parent_depth];
  Node* a = parent->children[left];
  Node* b = parent->children[left + 1];
  int64_t heads_at = common_heads(a, b);
  if (a->is_leaf) {
    Leaf* l = static_cast<Leaf*>(a);
    Leaf* r = static_cast<Leaf*>(b);
    move_entries(l, l->count, r, 0, r->count);
    l->count = static_cast<uint16_t>(l->count + r->count);
    l->next = r->next;
    if (r->next != nullptr) r->next->prev = l;
    free_leaf(r);
    parent->seps[left].release(keys_);
  } else {
    Inner* l = static_cast<Inner*>(a);
    Inner* r = static_cast<Inner*>(b);
    place_sep(l, l->count - 1, parent->seps[left]);  // the parent's separator moves down
    move_seps(l, l->count, r, 0, r->count - 1);
    move_children(l, l->count, r, 0, r->count);
    l->count = static_cast<uint16_t>(l->count + r->count);
    free_inner(r);
  }
  // Before the parent shifts: the fences may point into it.
  apply_prefix_rule(a, child_lo(path, parent_depth, left), child_hi(path, parent_depth, left + 1),
                    heads_at);
  parent->max_points[left] = std::max(parent->max_points[left], parent->max_points[left + 1]);
  int seps_after = parent->count - 2 - left;
  move_seps(parent, left, parent, left + 1, seps_after);
  move_children(parent, left + 1, parent, left + 2, seps_after);
  --parent->count;
  pad_heads(parent);
}

void VersionTree::replace_separator(Inner* inner, int idx, StoredKey sep) {
  admit_key(inner, sep.view());
  place_sep(inner, idx, sep);
}

// After entries moved between children `left` and left + 1: their fences changed.
void VersionTree::refit_pair(Path& path, int parent_depth, int left, int64_t heads_at) {
  Inner* parent = path.nodes[parent_depth];
  std::string_view mid = parent->seps[left].view();
  apply_prefix_rule(parent->children[left], child_lo(path, parent_depth, left), mid, heads_at);
  apply_prefix_rule(parent->children[left + 1], mid, child_hi(path, parent_depth, left + 1),
                    heads_at);
}

// Evens out two sibling leaves that together are too full to merge.
void VersionTree::redistribute_leaves(Path& path, int parent_depth, int left) {
  Inner* parent = path.nodes[parent_depth];
  Leaf* l = static_cast<Leaf*>(parent->children[left]);
  Leaf* r = static_cast<Leaf*>(parent->children[left + 1]);
  int64_t heads_at = common_heads(l, r);
  int target = (l->count + r->count) / 2;
  if (l->count < target) {
    int k = target - l->count;
    move_entries(l, l->count, r, 0, k);
    move_entries(r, 0, r, k, r->count - k);
    l->count = static_cast<uint16_t>(l->count + k);
    r->count = static_cast<uint16_t>(r->count - k);
  } else {
    int k = l->count - target;
    move_entries(r, k, r, 0, r->count);
    move_entries(r, 0, l, target, k);
    l->count = static_cast<uint16_t>(target);
    r->count = static_cast<uint16_t>(r->count + k);
  }
  StoredKey old = parent->seps[left];
  replace_separator(parent, left,
                    make_separator(l->keys[l->count - 1].view(), r->keys[0].view()));
  old.release(keys_);
  pad_heads(l);
  pad_heads(r);
  refit_pair(path, parent_depth, left, heads_at);
  parent->max_points[left] = max_of(l->points, l->count);
  parent->max_points[left + 1] = max_of(r->points, r->count);
}

// Evens out two sibling inner nodes, rotating children through the parent's separator.
void VersionTree::redistribute_inners(Path& path, int parent_depth, int left) {
  Inner* parent = path.nodes[parent_depth];
  Inner* l = static_cast<Inner*>(parent->children[left]);
  Inner* r = static_cast<Inner*>(parent->children[left + 1]);
  int64_t heads_at = common_heads(l, r);
  int target = (l->count + r->count) / 2;
  StoredKey up;
  if (l->count < target) {
    int k = target - l->count;  // r's first k children move to l's end
    place_sep(l, l->count - 1, parent->seps[left]);
    move_seps(l, l->count, r, 0, k - 1);
    move_children(l, l->count, r, 0, k);
    up = r->seps[k - 1];
    move_seps(r, 0, r, k, r->count - 1 - k);
    move_children(r, 0, r, k, r->count - k);
    l->count = static_cast<uint16_t>(l->count + k);
    r->count = static_cast<uint16_t>(r->count - k);
  } else {
    int k = l->count - target;  // l's last k children move to r's front
    move_seps(r, k, r, 0, r->count - 1);
    move_children(r, k, r, 0, r->count);
    place_sep(r, k - 1, parent->seps[left]);
    move_seps(r, 0, l, target, k - 1);
    move_children(r, 0, l, target, k);
    up = l->seps[target - 1];
    l->count = static_cast<uint16_t>(target);
    r->count = static_cast<uint16_t>(r->count + k);
  }
  // The old separator now lives in l or r; the parent's slot still shows the same bytes,
  // which admit_key (inside replace_separator) may read.
  replace_separator(parent, left, up);
  pad_heads(l);
  pad_heads(r);
  refit_pair(path, parent_depth, left, heads_at);
  parent->max_points[left] = max_of(l->max_points, l->count);
  parent->max_points[left + 1] = max_of(r->max_points, r->count);
}

}  // namespace weasel::cset
