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
void shift(T* array, int from, int to, int count) {
  if (count > 0) std::memmove(array + to, array + from, sizeof(T) * static_cast<size_t>(count));
}

// The keys of a node, uniformly for leaves and inner nodes.
StoredKey* keys_of(Node* node) {
  return node->is_leaf ? static_cast<Leaf*>(node)->keys : static_cast<Inner*>(node)->seps;
}
uint64_t* heads_of(Node* node) {
  return node->is_leaf ? static_cast<Leaf*>(node)->heads : static_cast<Inner*>(node)->heads;
}
int key_count(const Node* node) { return node->is_leaf ? node->count : node->count - 1; }

void rehead(Node* node) {
  StoredKey* keys = keys_of(node);
  uint64_t* heads = heads_of(node);
  for (int i = 0; i < key_count(node); ++i) heads[i] = load_head(keys[i].view(), node->prefix_len);
}

}  // namespace

Leaf* VersionTree::new_leaf() {
  Leaf* leaf = new Leaf();
  leaf->is_leaf = true;
  ++leaf_count_;
  return leaf;
}

Inner* VersionTree::new_inner() {
  Inner* inner = new Inner();
  ++inner_count_;
  return inner;
}

// Only the node itself: its keys were released or moved elsewhere before.
void VersionTree::free_leaf(Leaf* leaf) {
  delete leaf;
  --leaf_count_;
}

void VersionTree::free_inner(Inner* inner) {
  delete inner;
  --inner_count_;
}

void VersionTree::free_subtree(Node* node, int depth) {
  if (depth == height_) {
    Leaf* leaf = static_cast<Leaf*>(node);
    for (int i = 0; i < leaf->count; ++i) leaf->keys[i].release(key_heap_bytes_);
    free_leaf(leaf);
    return;
  }
  Inner* inner = static_cast<Inner*>(node);
  for (int i = 0; i < inner->count - 1; ++i) inner->seps[i].release(key_heap_bytes_);
  for (int i = 0; i < inner->count; ++i) free_subtree(inner->children[i], depth + 1);
  free_inner(inner);
}

// Nodes with both fences share their common prefix: no search ever needs to look at it.
// Edge nodes take the common prefix of their own keys instead; searches verify it and
// insertions shrink it (admit_key) when a key outside it arrives.
void VersionTree::apply_prefix_rule(Node* node, std::optional<std::string_view> lo,
                                    std::optional<std::string_view> hi) {
  if (lo && hi) {
    node->prefix_len = static_cast<uint32_t>(common_prefix(*lo, *hi));
    node->check_from = node->prefix_len;
  } else {
    StoredKey* keys = keys_of(node);
    int n = key_count(node);
    node->check_from = 0;
    node->prefix_len =
        n == 0 ? 0 : static_cast<uint32_t>(common_prefix(keys[0].view(), keys[n - 1].view()));
  }
  rehead(node);
}

// Must run before `key` joins the node, while its keys still show the current prefix.
void VersionTree::admit_key(Node* node, std::string_view key) {
  if (node->check_from >= node->prefix_len) return;
  int n = key_count(node);
  size_t shared = n == 0 ? node->check_from : common_prefix(key, keys_of(node)[0].view());
  if (shared >= node->prefix_len) return;
  node->prefix_len = static_cast<uint32_t>(std::max<size_t>(shared, node->check_from));
  rehead(node);
}

// The shortest key s with left_last < s <= right_first: short separators keep inner nodes
// small and their fences' common prefixes long.
StoredKey VersionTree::make_separator(std::string_view left_last, std::string_view right_first) {
  size_t shared = common_prefix(left_last, right_first);
  WEASEL_ASSERT(shared < right_first.size());
  return StoredKey::make(right_first.substr(0, shared + 1), key_heap_bytes_);
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
    std::memcpy(right->keys, leaf->keys + mid, sizeof(StoredKey) * right->count);
    std::memcpy(right->points, leaf->points + mid, sizeof(uint64_t) * right->count);
    std::memcpy(right->ranges, leaf->ranges + mid, sizeof(uint64_t) * right->count);
    leaf->count = static_cast<uint16_t>(mid);
    right->next = leaf->next;
    if (right->next != nullptr) right->next->prev = right;
    right->prev = leaf;
    leaf->next = right;
    sep = make_separator(leaf->keys[mid - 1].view(), right->keys[0].view());
    apply_prefix_rule(leaf, fence_lo(path, height_), sep.view());
    apply_prefix_rule(right, sep.view(), fence_hi(path, height_));
    if (compare_keys(key, sep.view()) >= 0) {
      target = right;
      pos -= mid;
    }
  }
  WEASEL_ASSERT(pos >= 0 && pos <= target->count);
  admit_key(target, key);
  int tail = target->count - pos;
  shift(target->heads, pos, pos + 1, tail);
  shift(target->keys, pos, pos + 1, tail);
  shift(target->points, pos, pos + 1, tail);
  shift(target->ranges, pos, pos + 1, tail);
  target->keys[pos] = StoredKey::make(key, key_heap_bytes_);
  target->heads[pos] = load_head(key, target->prefix_len);
  target->points[pos] = point;
  target->ranges[pos] = range;
  ++target->count;
  ++entry_count_;
  ++inserted_total_;
  if (right == nullptr) return;
  uint64_t left_max = max_of(leaf->points, leaf->count);
  uint64_t right_max = max_of(right->points, right->count);
  if (height_ == 0) {
    Inner* root = new_inner();
    root->count = 2;
    root->children[0] = leaf;
    root->children[1] = right;
    root->max_points[0] = left_max;
    root->max_points[1] = right_max;
    root->seps[0] = sep;
    apply_prefix_rule(root, std::nullopt, std::nullopt);
    root_ = root;
    height_ = 1;
    return;
  }
  path.nodes[height_ - 1]->max_points[path.idx[height_ - 1]] = left_max;
  insert_child(path, height_ - 1, path.idx[height_ - 1], sep, right, right_max);
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
    std::memcpy(right->children, inner->children + mid, sizeof(Node*) * right->count);
    std::memcpy(right->max_points, inner->max_points + mid, sizeof(uint64_t) * right->count);
    std::memcpy(right->seps, inner->seps + mid, sizeof(StoredKey) * (right->count - 1));
    up = inner->seps[mid - 1];
    inner->count = static_cast<uint16_t>(mid);
    apply_prefix_rule(inner, fence_lo(path, depth), up.view());
    apply_prefix_rule(right, up.view(), fence_hi(path, depth));
    if (idx >= mid) {
      target = right;
      idx -= mid;
    }
  }
  WEASEL_ASSERT(idx >= 0 && idx < target->count);
  admit_key(target, sep.view());
  int seps_after = target->count - 1 - idx;
  shift(target->seps, idx, idx + 1, seps_after);
  shift(target->heads, idx, idx + 1, seps_after);
  shift(target->children, idx + 1, idx + 2, seps_after);
  shift(target->max_points, idx + 1, idx + 2, seps_after);
  target->seps[idx] = sep;
  target->heads[idx] = load_head(target->seps[idx].view(), target->prefix_len);
  target->children[idx + 1] = child;
  target->max_points[idx + 1] = child_max;
  ++target->count;
  if (right == nullptr) return;
  uint64_t left_max = max_of(inner->max_points, inner->count);
  uint64_t right_max = max_of(right->max_points, right->count);
  if (depth == 0) {
    WEASEL_ASSERT(height_ + 1 < kMaxHeight);
    Inner* root = new_inner();
    root->count = 2;
    root->children[0] = inner;
    root->children[1] = right;
    root->max_points[0] = left_max;
    root->max_points[1] = right_max;
    root->seps[0] = up;
    apply_prefix_rule(root, std::nullopt, std::nullopt);
    root_ = root;
    ++height_;
    return;
  }
  path.nodes[depth - 1]->max_points[path.idx[depth - 1]] = left_max;
  insert_child(path, depth - 1, path.idx[depth - 1], up, right, right_max);
}

void VersionTree::erase_entries(Leaf* leaf, int begin, int end) {
  WEASEL_ASSERT(0 <= begin && begin <= end && end <= leaf->count);
  for (int i = begin; i < end; ++i) leaf->keys[i].release(key_heap_bytes_);
  int tail = leaf->count - end;
  shift(leaf->heads, end, begin, tail);
  shift(leaf->keys, end, begin, tail);
  shift(leaf->points, end, begin, tail);
  shift(leaf->ranges, end, begin, tail);
  leaf->count = static_cast<uint16_t>(leaf->count - (end - begin));
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
    apply_prefix_rule(root_, std::nullopt, std::nullopt);
  }
}

// Child left+1 of the parent at `parent_depth` moves into child `left`.
void VersionTree::merge_children(Path& path, int parent_depth, int left) {
  Inner* parent = path.nodes[parent_depth];
  Node* a = parent->children[left];
  Node* b = parent->children[left + 1];
  std::optional<std::string_view> lo =
      left > 0 ? std::optional(parent->seps[left - 1].view()) : fence_lo(path, parent_depth);
  std::optional<std::string_view> hi = left + 2 < parent->count
                                           ? std::optional(parent->seps[left + 1].view())
                                           : fence_hi(path, parent_depth);
  if (a->is_leaf) {
    Leaf* l = static_cast<Leaf*>(a);
    Leaf* r = static_cast<Leaf*>(b);
    std::memcpy(l->keys + l->count, r->keys, sizeof(StoredKey) * r->count);
    std::memcpy(l->points + l->count, r->points, sizeof(uint64_t) * r->count);
    std::memcpy(l->ranges + l->count, r->ranges, sizeof(uint64_t) * r->count);
    l->count = static_cast<uint16_t>(l->count + r->count);
    l->next = r->next;
    if (r->next != nullptr) r->next->prev = l;
    free_leaf(r);
    parent->seps[left].release(key_heap_bytes_);
  } else {
    Inner* l = static_cast<Inner*>(a);
    Inner* r = static_cast<Inner*>(b);
    l->seps[l->count - 1] = parent->seps[left];  // the parent's separator moves down
    std::memcpy(l->seps + l->count, r->seps, sizeof(StoredKey) * (r->count - 1));
    std::memcpy(l->children + l->count, r->children, sizeof(Node*) * r->count);
    std::memcpy(l->max_points + l->count, r->max_points, sizeof(uint64_t) * r->count);
    l->count = static_cast<uint16_t>(l->count + r->count);
    free_inner(r);
  }
  apply_prefix_rule(a, lo, hi);  // before the parent shifts: lo and hi may point into it
  parent->max_points[left] = std::max(parent->max_points[left], parent->max_points[left + 1]);
  int seps_after = parent->count - 2 - left;
  shift(parent->seps, left + 1, left, seps_after);
  shift(parent->heads, left + 1, left, seps_after);
  shift(parent->children, left + 2, left + 1, seps_after);
  shift(parent->max_points, left + 2, left + 1, seps_after);
  --parent->count;
}

void VersionTree::replace_separator(Inner* inner, int idx, StoredKey sep) {
  admit_key(inner, sep.view());
  inner->seps[idx] = sep;
  inner->heads[idx] = load_head(inner->seps[idx].view(), inner->prefix_len);
}

// Evens out two sibling leaves that together are too full to merge.
void VersionTree::redistribute_leaves(Path& path, int parent_depth, int left) {
  Inner* parent = path.nodes[parent_depth];
  Leaf* l = static_cast<Leaf*>(parent->children[left]);
  Leaf* r = static_cast<Leaf*>(parent->children[left + 1]);
  int target = (l->count + r->count) / 2;
  if (l->count < target) {
    int k = target - l->count;
    std::memcpy(l->keys + l->count, r->keys, sizeof(StoredKey) * k);
    std::memcpy(l->points + l->count, r->points, sizeof(uint64_t) * k);
    std::memcpy(l->ranges + l->count, r->ranges, sizeof(uint64_t) * k);
    shift(r->keys, k, 0, r->count - k);
    shift(r->points, k, 0, r->count - k);
    shift(r->ranges, k, 0, r->count - k);
    l->count = static_cast<uint16_t>(l->count + k);
    r->count = static_cast<uint16_t>(r->count - k);
  } else {
    int k = l->count - target;
    shift(r->keys, 0, k, r->count);
    shift(r->points, 0, k, r->count);
    shift(r->ranges, 0, k, r->count);
    std::memcpy(r->keys, l->keys + target, sizeof(StoredKey) * k);
    std::memcpy(r->points, l->points + target, sizeof(uint64_t) * k);
    std::memcpy(r->ranges, l->ranges + target, sizeof(uint64_t) * k);
    l->count = static_cast<uint16_t>(target);
    r->count = static_cast<uint16_t>(r->count + k);
  }
  StoredKey old = parent->seps[left];
  replace_separator(parent, left,
                    make_separator(l->keys[l->count - 1].view(), r->keys[0].view()));
  old.release(key_heap_bytes_);
  std::string_view mid = parent->seps[left].view();
  apply_prefix_rule(
      l, left > 0 ? std::optional(parent->seps[left - 1].view()) : fence_lo(path, parent_depth),
      mid);
  apply_prefix_rule(r, mid,
                    left + 2 < parent->count ? std::optional(parent->seps[left + 1].view())
                                             : fence_hi(path, parent_depth));
  parent->max_points[left] = max_of(l->points, l->count);
  parent->max_points[left + 1] = max_of(r->points, r->count);
}

// Evens out two sibling inner nodes, rotating children through the parent's separator.
void VersionTree::redistribute_inners(Path& path, int parent_depth, int left) {
  Inner* parent = path.nodes[parent_depth];
  Inner* l = static_cast<Inner*>(parent->children[left]);
  Inner* r = static_cast<Inner*>(parent->children[left + 1]);
  int target = (l->count + r->count) / 2;
  StoredKey up;
  if (l->count < target) {
    int k = target - l->count;  // r's first k children move to l's end
    l->seps[l->count - 1] = parent->seps[left];
    std::memcpy(l->seps + l->count, r->seps, sizeof(StoredKey) * (k - 1));
    std::memcpy(l->children + l->count, r->children, sizeof(Node*) * k);
    std::memcpy(l->max_points + l->count, r->max_points, sizeof(uint64_t) * k);
    up = r->seps[k - 1];
    shift(r->seps, k, 0, r->count - 1 - k);
    shift(r->children, k, 0, r->count - k);
    shift(r->max_points, k, 0, r->count - k);
    l->count = static_cast<uint16_t>(l->count + k);
    r->count = static_cast<uint16_t>(r->count - k);
  } else {
    int k = l->count - target;  // l's last k children move to r's front
    shift(r->seps, 0, k, r->count - 1);
    shift(r->children, 0, k, r->count);
    shift(r->max_points, 0, k, r->count);
    r->seps[k - 1] = parent->seps[left];
    std::memcpy(r->seps, l->seps + target, sizeof(StoredKey) * (k - 1));
    std::memcpy(r->children, l->children + target, sizeof(Node*) * k);
    std::memcpy(r->max_points, l->max_points + target, sizeof(uint64_t) * k);
    up = l->seps[target - 1];
    l->count = static_cast<uint16_t>(target);
    r->count = static_cast<uint16_t>(r->count + k);
  }
  // The old separator now lives in l or r; the parent's slot still shows the same bytes,
  // which admit_key (inside replace_separator) may read.
  replace_separator(parent, left, up);
  std::string_view mid = parent->seps[left].view();
  apply_prefix_rule(
      l, left > 0 ? std::optional(parent->seps[left - 1].view()) : fence_lo(path, parent_depth),
      mid);
  apply_prefix_rule(r, mid,
                    left + 2 < parent->count ? std::optional(parent->seps[left + 1].view())
                                             : fence_hi(path, parent_depth));
  parent->max_points[left] = max_of(l->max_points, l->count);
  parent->max_points[left + 1] = max_of(r->max_points, r->count);
}

}  // namespace weasel::cset
