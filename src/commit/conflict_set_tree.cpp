// VersionTree: descents, queries, writes and garbage collection. Node surgery (splits,
// merges, prefixes) lives in conflict_set_tree_nodes.cpp.

#include <algorithm>

#include "commit/conflict_set_tree.hpp"

namespace weasel::cset {
namespace {

uint64_t max_of(const uint64_t* values, int n) {
  uint64_t m = 0;
  for (int i = 0; i < n; ++i) m = std::max(m, values[i]);
  return m;
}

}  // namespace

VersionTree::VersionTree(bool huge_pages) : leaves_(huge_pages), inners_(huge_pages) {
  root_ = new_leaf();
}

VersionTree::~VersionTree() { free_subtree(root_, 0); }

void VersionTree::clear() {
  if (height_ == 0 && entry_count_ == 0 && max_version_ == 0) return;
  free_subtree(root_, 0);
  height_ = 0;
  max_version_ = 0;
  entry_count_ = 0;
  gc_cursor_.clear();
  root_ = new_leaf();
}

const Leaf* VersionTree::find_leaf(std::string_view key) const {
  const Node* node = root_;
  for (int d = 0; d < height_; ++d) {
    const Inner* inner = static_cast<const Inner*>(node);
    node = inner->children[search_inner(inner, key)];
    prefetch_node(node, d + 1 == height_, false);
  }
  return static_cast<const Leaf*>(node);
}

// The leaf is about to change: fetch all of it while the search runs.
Leaf* VersionTree::find_leaf(std::string_view key, Path& path) {
  Node* node = root_;
  for (int d = 0; d < height_; ++d) {
    Inner* inner = static_cast<Inner*>(node);
    int i = search_inner(inner, key);
    path.nodes[d] = inner;
    path.idx[d] = i;
    node = inner->children[i];
    prefetch_node(node, d + 1 == height_, d + 1 == height_);
  }
  return static_cast<Leaf*>(node);
}

// Level by level across the keys, in two passes per level: search every node and request
// the slot of the child to take, then follow every child and request its heads. Each load
// was requested a whole pass earlier, so up to n misses are in flight at once instead of one.
void VersionTree::find_leaves(const std::string_view* keys, int n, const Leaf** leaves) const {
  WEASEL_ASSERT(n <= kGroup);
  const Node* nodes[kGroup];
  int idx[kGroup];
  for (int i = 0; i < n; ++i) nodes[i] = root_;
  for (int d = 0; d < height_; ++d) {
    for (int i = 0; i < n; ++i) {
      const Inner* inner = static_cast<const Inner*>(nodes[i]);
      idx[i] = search_inner(inner, keys[i]);
      __builtin_prefetch(&inner->children[idx[i]]);
    }
    for (int i = 0; i < n; ++i) {
      nodes[i] = static_cast<const Inner*>(nodes[i])->children[idx[i]];
      prefetch_node(nodes[i], d + 1 == height_, false);
    }
  }
  for (int i = 0; i < n; ++i) leaves[i] = static_cast<const Leaf*>(nodes[i]);
}

void VersionTree::versions_at(const std::string_view* keys, int n, uint64_t* out) const {
  const Leaf* leaves[kGroup];
  SearchResult found[kGroup];
  find_leaves(keys, n, leaves);
  // Search every leaf and request the slot holding the answer, then read the answers.
  for (int i = 0; i < n; ++i) {
    found[i] = search_leaf(leaves[i], keys[i]);
    int pos = found[i].pos;
    if (found[i].eq) {
      __builtin_prefetch(&leaves[i]->points[pos - 1]);
    } else if (pos > 0) {
      __builtin_prefetch(&leaves[i]->ranges[pos - 1]);
    } else if (leaves[i]->prev != nullptr) {
      __builtin_prefetch(leaves[i]->prev);
    }
  }
  for (int i = 0; i < n; ++i) {
    const Leaf* leaf = leaves[i];
    out[i] = found[i].eq ? leaf->points[found[i].pos - 1] : range_before(leaf, found[i].pos);
  }
}

// find_leaves' two passes per level, raising each child's summary on the way (to the key's
// version, which it is about to get). Then every leaf is searched and existing entries take
// their version; the other keys' whole leaves are requested, and they are inserted while
// their leaves have room: an insertion without a split changes no other leaf, so the leaves
// found stay valid (positions are searched again: an earlier key may have gone into the same
// leaf). Keys whose leaf is full take the ordinary path last. Points at different keys do
// not interact, so only the order among equal keys matters, and every pass keeps it.
void VersionTree::write_points(const std::string_view* keys, const uint64_t* versions, int n) {
  WEASEL_ASSERT(n <= kGroup && (n == 0 || versions[0] >= max_version_));
  for (int i = 1; i < n; ++i) WEASEL_ASSERT(versions[i - 1] <= versions[i]);
  Node* nodes[kGroup];
  int idx[kGroup];
  bool done[kGroup];
  for (int i = 0; i < n; ++i) nodes[i] = root_;
  for (int d = 0; d < height_; ++d) {
    for (int i = 0; i < n; ++i) {
      Inner* inner = static_cast<Inner*>(nodes[i]);
      idx[i] = search_inner(inner, keys[i]);
      __builtin_prefetch(&inner->children[idx[i]]);
      __builtin_prefetch(&inner->max_points[idx[i]], 1);
    }
    for (int i = 0; i < n; ++i) {
      Inner* inner = static_cast<Inner*>(nodes[i]);
      inner->max_points[idx[i]] = std::max(inner->max_points[idx[i]], versions[i]);
      nodes[i] = inner->children[idx[i]];
      prefetch_node(nodes[i], d + 1 == height_, false);
    }
  }
  if (n > 0) max_version_ = std::max(max_version_, versions[n - 1]);
  for (int i = 0; i < n; ++i) {
    Leaf* leaf = static_cast<Leaf*>(nodes[i]);
    SearchResult r = search_leaf(leaf, keys[i]);
    done[i] = r.eq;
    if (r.eq) {
      leaf->points[r.pos - 1] = versions[i];  // its range version stays: older, so smaller
    } else {
      prefetch_node(leaf, true, true);
    }
  }
  for (int i = 0; i < n; ++i) {
    Leaf* leaf = static_cast<Leaf*>(nodes[i]);
    if (done[i] || leaf->count == kLeafCapacity) continue;
    done[i] = true;
    SearchResult r = search_leaf(leaf, keys[i]);
    if (r.eq) {
      leaf->points[r.pos - 1] = versions[i];  // the same key earlier in this group
      continue;
    }
    Path unused;  // insert_entry reads the path only to split, and this leaf has room
    insert_entry(unused, leaf, r.pos, keys[i], versions[i], range_before(leaf, r.pos));
  }
  for (int i = 0; i < n; ++i) {
    if (!done[i]) write_point_unchecked(keys[i], versions[i]);
  }
}

void VersionTree::prefetch_leaves(const std::string_view* keys, int n) const {
  const Leaf* leaves[kGroup];
  find_leaves(keys, n, leaves);
  for (int i = 0; i < n; ++i) prefetch_node(leaves[i], true, true);
}

// Version of the keys just before entry `pos` of `leaf` (that entry's predecessor's range).
uint64_t VersionTree::range_before(const Leaf* leaf, int pos) {
  if (pos > 0) return leaf->ranges[pos - 1];
  const Leaf* prev = leaf->prev;
  if (prev == nullptr) return 0;
  WEASEL_ASSERT(prev->count > 0);
  return prev->ranges[prev->count - 1];
}

uint64_t VersionTree::version_at(std::string_view key) const {
  const Leaf* leaf = find_leaf(key);
  SearchResult r = search_leaf(leaf, key);
  return r.eq ? leaf->points[r.pos - 1] : range_before(leaf, r.pos);
}

bool VersionTree::any_above(std::string_view begin, std::optional<std::string_view> end,
                            uint64_t v) const {
  if (max_version_ <= v) return false;
  Bound hi = end ? Bound{*end, true} : Bound{{}, false};
  return any_above_in(root_, 0, Bound{begin, true}, hi, v);
}

// Entries strictly between lo and hi under `node`; a bound is only present when it lies
// within the node's fences, so searching for it there is valid.
bool VersionTree::any_above_in(const Node* node, int depth, Bound lo, Bound hi,
                               uint64_t v) const {
  if (depth == height_) {
    const Leaf* leaf = static_cast<const Leaf*>(node);
    int start = lo.present ? search_leaf(leaf, lo.key).pos : 0;
    int stop = leaf->count;
    if (hi.present) {
      SearchResult r = search_leaf(leaf, hi.key);
      stop = r.pos - (r.eq ? 1 : 0);
    }
    for (int i = start; i < stop; ++i) {
      if (leaf->points[i] > v) return true;
    }
    return false;
  }
  const Inner* inner = static_cast<const Inner*>(node);
  int first = lo.present ? search_inner(inner, lo.key) : 0;
  int last = hi.present ? search_inner(inner, hi.key) : inner->count - 1;
  const Bound open{{}, false};
  if (first == last) {
    return inner->max_points[first] > v &&
           any_above_in(inner->children[first], depth + 1, lo, hi, v);
  }
  if (inner->max_points[first] > v &&
      any_above_in(inner->children[first], depth + 1, lo, open, v)) {
    return true;
  }
  // Children strictly between hold only keys inside (lo, hi): their bound is the answer.
  for (int i = first + 1; i < last; ++i) {
    if (inner->max_points[i] > v) return true;
  }
  return inner->max_points[last] > v &&
         any_above_in(inner->children[last], depth + 1, open, hi, v);
}

void VersionTree::raise_path(const Path& path, uint64_t v) {
  for (int d = 0; d < height_; ++d) {
    uint64_t& m = path.nodes[d]->max_points[path.idx[d]];
    m = std::max(m, v);
  }
  max_version_ = std::max(max_version_, v);
}

void VersionTree::write_point(std::string_view key, uint64_t v) {
  WEASEL_ASSERT(v >= max_version_);
  write_point_unchecked(key, v);
}

// write_point without its ordering check: write_points writes points at different keys out
// of version order, which is harmless (they do not interact) but trips the check.
void VersionTree::write_point_unchecked(std::string_view key, uint64_t v) {
  Path path;
  Leaf* leaf = find_leaf(key, path);
  SearchResult r = search_leaf(leaf, key);
  raise_path(path, v);
  if (r.eq) {
    leaf->points[r.pos - 1] = v;  // its range version stays: it is older, so <= v
    return;
  }
  insert_entry(path, leaf, r.pos, key, v, range_before(leaf, r.pos));
}

void VersionTree::write_range(std::string_view begin, std::optional<std::string_view> end,
                              uint64_t v) {
  WEASEL_ASSERT(v >= max_version_);
  WEASEL_ASSERT(!end || compare_keys(begin, *end) < 0);
  if (end) {
    // Pin the version that covers `end` today, so that keys from `end` on keep it.
    Path path;
    Leaf* leaf = find_leaf(*end, path);
    SearchResult r = search_leaf(leaf, *end);
    if (!r.eq) {
      uint64_t covering = range_before(leaf, r.pos);
      raise_path(path, covering);
      insert_entry(path, leaf, r.pos, *end, covering, covering);
    }
  }
  erase_between(begin, end);
  Path path;
  Leaf* leaf = find_leaf(begin, path);
  SearchResult r = search_leaf(leaf, begin);
  raise_path(path, v);
  if (r.eq) {
    leaf->points[r.pos - 1] = v;
    leaf->ranges[r.pos - 1] = v;
    return;
  }
  insert_entry(path, leaf, r.pos, begin, v, v);
}

// Erases every entry strictly between begin and end, one leaf at a time. Each round either
// erases something or moves the cursor to the next leaf, so it ends.
void VersionTree::erase_between(std::string_view begin, std::optional<std::string_view> end) {
  std::string_view cursor = begin;
  bool inclusive = false;
  for (;;) {
    Path path;
    Leaf* leaf = find_leaf(cursor, path);
    SearchResult r = search_leaf(leaf, cursor);
    int start = inclusive && r.eq ? r.pos - 1 : r.pos;
    int stop = leaf->count;
    if (end && stop > start && compare_keys(leaf->keys[stop - 1].view(), *end) >= 0) {
      // cursor <= end <= last key < hi fence: `end` lies within this leaf's fences.
      SearchResult e = search_leaf(leaf, *end);
      stop = e.pos - (e.eq ? 1 : 0);
    }
    if (start < stop) {
      bool reached_leaf_end = stop == leaf->count;
      erase_entries(leaf, start, stop);
      rebalance(path, height_);
      if (!reached_leaf_end) return;
      continue;  // merges may have pulled later entries into this leaf: look again
    }
    if (stop < leaf->count) return;
    std::optional<std::string_view> hi = fence_hi(path, height_);
    if (!hi || (end && compare_keys(*hi, *end) >= 0)) return;
    erase_cursor_.assign(*hi);
    cursor = erase_cursor_;
    inclusive = true;
  }
}

std::optional<std::string_view> VersionTree::fence_lo(const Path& path, int depth) const {
  for (int d = depth - 1; d >= 0; --d) {
    if (path.idx[d] > 0) return path.nodes[d]->seps[path.idx[d] - 1].view();
  }
  return std::nullopt;
}

std::optional<std::string_view> VersionTree::fence_hi(const Path& path, int depth) const {
  for (int d = depth - 1; d >= 0; --d) {
    if (path.idx[d] < path.nodes[d]->count - 1) return path.nodes[d]->seps[path.idx[d]].view();
  }
  return std::nullopt;
}

// An entry is redundant when removing it leaves every query with v >= oldest unchanged: its
// key and the keys after it would take the predecessor's range version instead, so both
// versions must equal it, or all three must be <= oldest (never above any valid v).
size_t VersionTree::collect(uint64_t oldest, size_t budget) {
  size_t examined = 0;
  while (examined < budget && entry_count_ > 0) {
    Path path;
    Leaf* leaf = find_leaf(gc_cursor_, path);
    SearchResult r = search_leaf(leaf, gc_cursor_);
    int start = r.eq ? r.pos - 1 : r.pos;
    uint64_t pred = range_before(leaf, start);
    int kept = start;
    for (int i = start; i < leaf->count; ++i) {
      uint64_t point = leaf->points[i];
      uint64_t range = leaf->ranges[i];
      bool redundant = (point <= oldest && pred <= oldest) || (point == pred && range == pred);
      if (redundant) {
        leaf->keys[i].release(keys_);
        continue;
      }
      leaf->heads[kept] = leaf->heads[i];
      leaf->lens[kept] = leaf->lens[i];
      leaf->keys[kept] = leaf->keys[i];
      leaf->points[kept] = point;
      leaf->ranges[kept] = range;
      pred = range;
      ++kept;
    }
    int removed = leaf->count - kept;
    examined += static_cast<size_t>(std::max(1, leaf->count - start));
    entry_count_ -= static_cast<size_t>(removed);
    leaf->count = static_cast<uint16_t>(kept);
    for (int i = kept; i < kLeafCapacity; ++i) leaf->heads[i] = kNoHead;
    if (height_ > 0) {
      // The exact bound is cheap here and keeps later range checks from descending in vain.
      path.nodes[height_ - 1]->max_points[path.idx[height_ - 1]] =
          max_of(leaf->points, leaf->count);
    }
    std::optional<std::string_view> hi = fence_hi(path, height_);
    if (hi) {
      gc_cursor_.assign(*hi);
    } else {
      gc_cursor_.clear();
    }
    if (removed > 0) rebalance(path, height_);
  }
  return examined;
}

size_t VersionTree::memory_bytes() const {
  return sizeof(*this) + leaves_.reserved_bytes() + inners_.reserved_bytes() +
         keys_.reserved_bytes() + gc_cursor_.capacity() + erase_cursor_.capacity();
}

}  // namespace weasel::cset
