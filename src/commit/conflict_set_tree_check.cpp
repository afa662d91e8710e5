// VersionTree::check_invariants: a full walk that aborts on any broken structural invariant.
// Tests call it after random operations; it is O(n) and never runs on the commit path.

#include <algorithm>

#include "commit/conflict_set_tree.hpp"

namespace weasel::cset {

void VersionTree::check_invariants() const {
  const Leaf* last_leaf = nullptr;
  uint64_t max_point = 0;
  size_t entries = 0;
  size_t heap_bytes = 0;
  check_node(root_, 0, std::nullopt, std::nullopt, last_leaf, max_point, entries, heap_bytes);
  WEASEL_ASSERT(last_leaf != nullptr && last_leaf->next == nullptr);
  WEASEL_ASSERT(entries == entry_count_);
  WEASEL_ASSERT(heap_bytes == keys_.live_bytes());
  WEASEL_ASSERT(max_point <= max_version_);
}

void VersionTree::check_node(const Node* node, int depth, std::optional<std::string_view> lo,
                             std::optional<std::string_view> hi, const Leaf*& prev_leaf,
                             uint64_t& max_point, size_t& entries, size_t& heap_bytes) const {
  WEASEL_ASSERT(node->is_leaf == (depth == height_));
  if (lo && hi) {
    WEASEL_ASSERT(node->check_from <= common_prefix(*lo, *hi));
  } else {
    WEASEL_ASSERT(node->check_from == 0);
  }
  const StoredKey* keys =
      node->is_leaf ? static_cast<const Leaf*>(node)->keys : static_cast<const Inner*>(node)->seps;
  const uint64_t* heads = node->is_leaf ? static_cast<const Leaf*>(node)->heads
                                        : static_cast<const Inner*>(node)->heads;
  const uint16_t* lens = node->is_leaf ? static_cast<const Leaf*>(node)->lens
                                       : static_cast<const Inner*>(node)->lens;
  int n = node->is_leaf ? node->count : node->count - 1;
  for (int i = 0; i < n; ++i) {
    std::string_view k = keys[i].view();
    if (k.size() > StoredKey::kInlineBytes) heap_bytes += k.size();
    // Leaf keys lie in [lo, hi); separators strictly inside (lo, hi).
    if (lo) WEASEL_ASSERT(compare_keys(*lo, k) < (node->is_leaf ? 1 : 0));
    if (hi) WEASEL_ASSERT(compare_keys(k, *hi) < 0);
    if (i > 0) WEASEL_ASSERT(compare_keys(keys[i - 1].view(), k) < 0);
    WEASEL_ASSERT(k.size() >= node->prefix_len);
    WEASEL_ASSERT(common_prefix(k, keys[0].view()) >= node->prefix_len);
    WEASEL_ASSERT(heads[i] == load_head(k, node->prefix_len));
    WEASEL_ASSERT(lens[i] == saturated_len(k.size()));
  }
  if (node->check_from < node->prefix_len && n > 0) {
    for (size_t w = 0; w < 2; ++w) {
      size_t bytes = node->prefix_len > w * 8 ? std::min<size_t>(8, node->prefix_len - w * 8) : 0;
      uint64_t mask = bytes == 0 ? 0 : ~uint64_t{0} << (64 - 8 * bytes);
      WEASEL_ASSERT(node->prefix_words[w] == (load_head(keys[0].view(), w * 8) & mask));
    }
  }
  for (int i = n; i < (node->is_leaf ? kLeafCapacity : kInnerCapacity); ++i) {
    WEASEL_ASSERT(heads[i] == kNoHead);
  }
  if (node->is_leaf) {
    const Leaf* leaf = static_cast<const Leaf*>(node);
    WEASEL_ASSERT(depth == 0 || leaf->count >= kLeafMin);
    WEASEL_ASSERT(leaf->count <= kLeafCapacity);
    WEASEL_ASSERT(leaf->prev == prev_leaf);
    if (prev_leaf != nullptr) WEASEL_ASSERT(prev_leaf->next == leaf);
    prev_leaf = leaf;
    for (int i = 0; i < leaf->count; ++i) {
      WEASEL_ASSERT(leaf->ranges[i] <= leaf->points[i]);
      max_point = std::max(max_point, leaf->points[i]);
    }
    entries += leaf->count;
    return;
  }
  const Inner* inner = static_cast<const Inner*>(node);
  WEASEL_ASSERT(inner->count >= (depth == 0 ? 2 : kInnerMin));
  WEASEL_ASSERT(inner->count <= kInnerCapacity);
  for (int i = 0; i < inner->count; ++i) {
    std::optional<std::string_view> child_lo = i > 0 ? std::optional(keys[i - 1].view()) : lo;
    std::optional<std::string_view> child_hi =
        i < inner->count - 1 ? std::optional(keys[i].view()) : hi;
    uint64_t child_max = 0;
    check_node(inner->children[i], depth + 1, child_lo, child_hi, prev_leaf, child_max, entries,
               heap_bytes);
    WEASEL_ASSERT(child_max <= inner->max_points[i]);
    max_point = std::max(max_point, inner->max_points[i]);
  }
}

}  // namespace weasel::cset
