// ArtTree node surgery: making and freeing nodes, prefixes, adding and removing children,
// growing and shrinking between layouts, and the invariant check (tests only).

#include <algorithm>

#include "commit/conflict_set_art.hpp"

namespace weasel::cset {

using art::Node;
using art::Node0;
using art::Node16;
using art::Node256;
using art::Node32;
using art::Node4;
using art::Node48;
using art::Slot;
using art::Type;

namespace {

// Layouts grow when full and shrink well below the next smaller capacity, so that a node
// at a boundary does not flip back and forth.
int capacity_of(Type t) {
  switch (t) {
    case Type::k0:
      return 0;
    case Type::k4:
      return 4;
    case Type::k16:
      return 16;
    case Type::k32:
      return 32;
    case Type::k48:
      return 48;
    case Type::k256:
      return 256;
  }
  return 0;
}

Type grown(Type t) {
  switch (t) {
    case Type::k0:
      return Type::k4;
    case Type::k4:
      return Type::k16;
    case Type::k16:
      return Type::k32;
    case Type::k32:
      return Type::k48;
    default:
      return Type::k256;
  }
}

// (Down as many layouts as the count allows: a collection may take many children at once.)
Type shrunk(Type t, int count) {
  if (t == Type::k256 && count <= 24) t = Type::k48;
  if (t == Type::k48 && count <= 16) t = Type::k32;
  if (t == Type::k32 && count <= 8) t = Type::k16;
  if (t == Type::k16 && count <= 2) t = Type::k4;
  return t;
}

void set_bit(uint64_t* bits, unsigned b) {
  bits[b >> 6] |= uint64_t{1} << (b & 63);
}
void clear_bit(uint64_t* bits, unsigned b) {
  bits[b >> 6] &= ~(uint64_t{1} << (b & 63));
}

// Adds a child to a node with room, keeping the layout's order.
template <int kCap>
void insert_sorted(art::NodeSorted<kCap>* n, uint8_t byte, const Slot& child) {
  WEASEL_ASSERT(n->count < kCap);
  int i = art::count_below(n, byte);
  WEASEL_ASSERT(i == n->count || n->keys[i] != byte);
  // A few elements at most: a loop, not a memmove call.
  for (int j = n->count; j > i; --j) {
    n->keys[j] = n->keys[j - 1];
    n->slots[j] = n->slots[j - 1];
  }
  n->keys[i] = byte;
  n->slots[i] = child;
  ++n->count;
}

void insert_slot(Node* n, uint8_t byte, const Slot& child) {
  switch (n->type) {
    case Type::k0:
      WEASEL_ASSERT(false);
      break;
    case Type::k4:
      insert_sorted(static_cast<Node4*>(n), byte, child);
      break;
    case Type::k16:
      insert_sorted(static_cast<Node16*>(n), byte, child);
      break;
    case Type::k32:
      insert_sorted(static_cast<Node32*>(n), byte, child);
      break;
    case Type::k48: {
      auto* m = static_cast<Node48*>(n);
      WEASEL_ASSERT(m->count < 48 && !art::index_present(m->index[byte]));
      art::put_in_node48(m, byte, child);
      break;
    }
    case Type::k256: {
      auto* m = static_cast<Node256*>(n);
      WEASEL_ASSERT(m->slots[byte].child == nullptr);
      m->slots[byte] = child;
      set_bit(m->bits, byte);
      ++m->count;
      break;
    }
  }
}

// fn(byte, slot) for every child in byte order (visit_children only writes when asked to).
template <class Fn>
void for_each_child(const Node* n, Fn&& fn) {
  art::visit_children(const_cast<Node*>(n), 0, [&](unsigned at, const Slot& c) {
    fn(at, c);
    return art::Visit::kNext;
  });
}

}  // namespace

Node* ArtTree::make_node(Type type) {
  Node* n = nullptr;
  switch (type) {
    case Type::k0:
      n = nodes0_.make();
      break;
    case Type::k4:
      n = nodes4_.make();
      break;
    case Type::k16:
      n = nodes16_.make();
      break;
    case Type::k32:
      n = nodes32_.make();
      break;
    case Type::k48: {
      auto* m = nodes48_.make();
      std::memset(m->bits, 0, sizeof(m->bits));
      std::memset(m->index, 0, sizeof(m->index));
      m->used = 0;
      n = m;
      break;
    }
    case Type::k256: {
      auto* m = nodes256_.make();
      std::memset(m->bits, 0, sizeof(m->bits));
      for (Slot& s : m->slots) s.child = nullptr;
      n = m;
      break;
    }
  }
  n->type = type;
  n->has_entry = false;
  n->count = 0;
  n->prefix_len = 0;
  n->point = 0;
  n->range = 0;
  return n;
}

Node* ArtTree::make_leaf(std::string_view key, size_t from, art::Rel point, art::Rel range) {
  Node* n = make_node(Type::k0);
  set_prefix(n, reinterpret_cast<const uint8_t*>(key.data()) + from, key.size() - from);
  n->has_entry = true;
  n->point = point;
  n->range = range;
  ++entry_count_;
  ++inserted_total_;
  return n;
}

void ArtTree::free_node(Node* n) {
  switch (n->type) {
    case Type::k0:
      nodes0_.recycle(static_cast<Node0*>(n));
      break;
    case Type::k4:
      nodes4_.recycle(static_cast<Node4*>(n));
      break;
    case Type::k16:
      nodes16_.recycle(static_cast<Node16*>(n));
      break;
    case Type::k32:
      nodes32_.recycle(static_cast<Node32*>(n));
      break;
    case Type::k48:
      nodes48_.recycle(static_cast<Node48*>(n));
      break;
    case Type::k256:
      nodes256_.recycle(static_cast<Node256*>(n));
      break;
  }
}

size_t ArtTree::free_subtree(Node* n) {
  if (art::is_leaf_word(n)) return 1;
  size_t entries = n->has_entry ? 1 : 0;
  for_each_child(n, [&](unsigned, const Slot& c) { entries += free_subtree(c.child); });
  release_prefix(n);
  free_node(n);
  return entries;
}

// A real Node0 for the inline leaf in s (which the caller then points at it).
Node* ArtTree::materialize(const Slot& s) {
  uint8_t bytes[art::kInlineLeafBytes];
  art::leaf_bytes(s.child, bytes);
  Node* n = make_node(Type::k0);
  set_prefix(n, bytes, art::leaf_len(s.child));
  n->has_entry = true;
  n->point = s.max_point;
  n->range = s.tail;
  return n;
}

// Turns a Node0 with a short prefix into an inline leaf in its slot.
void ArtTree::inline_if_small(Slot& s) {
  Node* n = s.child;
  if (art::is_leaf_word(n) || n->type != Type::k0 || n->prefix_len > art::kInlineLeafBytes) return;
  WEASEL_ASSERT(n->has_entry);
  s = Slot{art::leaf_word(n->inline_prefix, n->prefix_len), n->point, n->range};
  free_node(n);
}

// `bytes` may point into the node's current prefix: it is copied before that is released.
void ArtTree::set_prefix(Node* n, const uint8_t* bytes, size_t len) {
  WEASEL_ASSERT(len <= UINT32_MAX);
  uint8_t* old_heap = n->prefix_len > art::kInlinePrefix ? n->heap_prefix : nullptr;
  size_t old_len = n->prefix_len;
  if (len > art::kInlinePrefix) {
    uint8_t* heap = keys_.allocate(len);
    std::memcpy(heap, bytes, len);
    n->heap_prefix = heap;
  } else if (len > 0) {
    std::memmove(n->inline_prefix, bytes, len);
  }
  n->prefix_len = static_cast<uint32_t>(len);
  if (old_heap != nullptr) keys_.release(old_heap, old_len);
}

void ArtTree::release_prefix(Node* n) {
  if (n->prefix_len > art::kInlinePrefix) keys_.release(n->heap_prefix, n->prefix_len);
  n->prefix_len = 0;
}

// Moves a node into another layout (its prefix moves along); frees the old one.
Node* ArtTree::retype(Node* n, Type type) {
  Node* m = make_node(type);
  m->has_entry = n->has_entry;
  m->point = n->point;
  m->range = n->range;
  m->prefix_len = n->prefix_len;
  std::memcpy(m->inline_prefix, n->inline_prefix, art::kInlinePrefix);  // or the pointer
  WEASEL_ASSERT(n->count <= capacity_of(type));
  if (type == Type::k48) {  // the absent bytes' entries in one pass, not one per child
    auto* wide = static_cast<Node48*>(m);
    for_each_child(n, [&](unsigned b, const Slot& c) {
      art::put_in_node48<false>(wide, static_cast<uint8_t>(b), c);
    });
    art::rebuild_absent(wide);
  } else {
    for_each_child(n,
                   [&](unsigned b, const Slot& c) { insert_slot(m, static_cast<uint8_t>(b), c); });
  }
  free_node(n);
  return m;
}

void ArtTree::add_child(Slot& s, uint8_t byte, const Slot& child) {
  Type t = s.child->type;
  if (s.child->count == capacity_of(t)) {
    Type g = grown(t);
    if (g == Type::k32 && entry_count_ < node32_from_entries_) g = Type::k48;
    s.child = retype(s.child, g);
  }
  insert_slot(s.child, byte, child);
}

void ArtTree::remove_child(Node* n, uint8_t byte) {
  switch (n->type) {
    case Type::k0:
      WEASEL_ASSERT(false);
      break;
    case Type::k4:
    case Type::k16:
    case Type::k32: {
      uint8_t* keys = sorted_keys(n);
      Slot* slots = sorted_slots(n);
      int i = 0;
      while (i < n->count && keys[i] != byte) ++i;
      WEASEL_ASSERT(i < n->count);
      for (int j = i + 1; j < n->count; ++j) {
        keys[j - 1] = keys[j];
        slots[j - 1] = slots[j];
      }
      break;
    }
    case Type::k48: {
      auto* m = static_cast<Node48*>(n);
      WEASEL_ASSERT(art::index_present(m->index[byte]));
      art::take_from_node48(m, byte);
      return;  // it lowered the count
    }
    case Type::k256: {
      auto* m = static_cast<Node256*>(n);
      WEASEL_ASSERT(art::has_bit(m->bits, byte));
      m->slots[byte].child = nullptr;
      clear_bit(m->bits, byte);
      break;
    }
  }
  --n->count;
}

// Restores the node invariants after entries or children were removed below s: an empty
// node goes, a node with one child and no entry merges into that child (which takes its
// prefix and edge byte), a node fits the smallest layout that suits it; s's summaries are
// then exact again (the bound only when exact_max or the node is small: removals only lower
// it, so the old one stays an upper bound, which is all range checks need; see the header).
void ArtTree::settle(Slot& s, bool exact_max) {
  Node* n = s.child;
  if (n->count == 0) {
    if (!n->has_entry) {
      release_prefix(n);
      free_node(n);
      s.child = nullptr;
      return;
    }
    if (n->type != Type::k0) n = retype(n, Type::k0);
    s.child = n;
    s.max_point = n->point;
    s.tail = n->range;
    inline_if_small(s);
    return;
  } else if (n->count == 1 && !n->has_entry) {
    unsigned at = 0;
    Slot only = *art::next_child(n, 0, &at);
    size_t merged = n->prefix_len + 1 + art::leaf_len(only.child);
    if (art::is_leaf_word(only.child) && merged <= art::kInlineLeafBytes) {
      // The usual case after collection (two leaves that shared a byte, one gone): the merged
      // key still fits a leaf word, so no Node0 is made only to be inlined again.
      uint8_t bytes[2 * art::kInlineLeafBytes];  // leaf_bytes() writes 7 bytes
      std::memcpy(bytes, n->inline_prefix, n->prefix_len);
      bytes[n->prefix_len] = static_cast<uint8_t>(at);
      art::leaf_bytes(only.child, bytes + n->prefix_len + 1);
      free_node(n);
      s = Slot{art::leaf_word(bytes, merged), only.max_point, only.tail};
      return;
    }
    if (art::is_leaf_word(only.child)) only.child = materialize(only);
    Node* c = only.child;
    scratch_.assign(reinterpret_cast<const char*>(n->prefix()), n->prefix_len);
    scratch_.push_back(static_cast<char>(at));
    scratch_.append(reinterpret_cast<const char*>(c->prefix()), c->prefix_len);
    set_prefix(c, reinterpret_cast<const uint8_t*>(scratch_.data()), scratch_.size());
    release_prefix(n);
    free_node(n);
    s = only;
    inline_if_small(s);
    return;
  } else {
    Type t = shrunk(n->type, n->count);
    if (t != n->type) n = retype(n, t);
  }
  s.child = n;
  if (exact_max || n->count <= 16) {
    art::Rel m = n->has_entry ? n->point : 0;
    for_each_child(n, [&](unsigned, const Slot& c) { m = std::max(m, c.max_point); });
    s.max_point = m;
  }
  s.tail = art::tail_of(n);
}

// Rewrites the versions in the subtree of s for a base `delta` higher: those at or below the
// new base become 0 (see the header: no answer changes).
void ArtTree::rebase_subtree(Slot& s, uint64_t delta) {
  auto lower = [delta](art::Rel& r) { r = r > delta ? static_cast<art::Rel>(r - delta) : 0; };
  lower(s.max_point);
  lower(s.tail);
  if (art::is_leaf_word(s.child)) return;
  Node* n = s.child;
  lower(n->point);
  lower(n->range);
  art::visit_children(n, 0, [delta](unsigned, Slot& c) {
    rebase_subtree(c, delta);
    return art::Visit::kNext;
  });
}

int ArtTree::height() const {
  struct Walk {
    static int depth(const Node* n) {
      if (art::is_leaf_word(n)) return 1;
      int d = 0;
      for_each_child(n, [&](unsigned, const Slot& c) { d = std::max(d, depth(c.child)); });
      return d + 1;
    }
  };
  return root_.child == nullptr ? 0 : Walk::depth(root_.child);
}

void ArtTree::node_counts(size_t out[7]) const {
  struct Walk {
    static void count(const Node* n, size_t* out) {
      if (art::is_leaf_word(n)) {
        ++out[6];
        return;
      }
      ++out[static_cast<int>(n->type)];
      for_each_child(n, [&](unsigned, const Slot& c) { count(c.child, out); });
    }
  };
  std::fill(out, out + 7, 0);
  if (root_.child != nullptr) Walk::count(root_.child, out);
}

void ArtTree::check_invariants() const {
  size_t entries = 0;
  size_t heap_bytes = 0;
  art::Rel last_range = 0;
  if (root_.child != nullptr) {
    std::string key;
    check_node(root_, key, 0, entries, heap_bytes, last_range);
  } else {
    WEASEL_ASSERT(root_.max_point == 0 && root_.tail == 0);
  }
  WEASEL_ASSERT(entries == entry_count_);
  WEASEL_ASSERT(heap_bytes == keys_.live_bytes());
  // The relative encoding: the base never passes the floor (only versions no query asks
  // about are clamped), and every stored version is base_ + its value, within the newest.
  WEASEL_ASSERT(base_ <= floor_);
  WEASEL_ASSERT(max_version_ <= base_ || max_version_ - base_ <= art::kMaxRel);
  WEASEL_ASSERT(base_ + root_.max_point <= std::max(max_version_, base_));
}

// Checks the subtree of s, whose keys start with `key`; `before` is the range version of the
// last entry before it. Returns (through last_range) the range of its last entry.
void ArtTree::check_node(const Slot& s, std::string& key, art::Rel before, size_t& entries,
                         size_t& heap_bytes, art::Rel& last_range) const {
  WEASEL_ASSERT(s.child != nullptr);
  if (art::is_leaf_word(s.child)) {
    WEASEL_ASSERT(art::leaf_len(s.child) <= art::kInlineLeafBytes);
    WEASEL_ASSERT(s.tail <= s.max_point);  // range <= point
    ++entries;
    last_range = s.tail;
    return;
  }
  const Node* n = s.child;
  WEASEL_ASSERT(n->count <= capacity_of(n->type));
  WEASEL_ASSERT(n->type == Type::k0 || n->count > 0);
  WEASEL_ASSERT(n->count >= 2 || n->has_entry || &s == &root_);
  WEASEL_ASSERT(n->type != Type::k0 || n->prefix_len > art::kInlineLeafBytes || &s == &root_);
  if (n->prefix_len > art::kInlinePrefix) heap_bytes += n->prefix_len;
  size_t key_len = key.size();
  key.append(reinterpret_cast<const char*>(n->prefix()), n->prefix_len);
  art::Rel max_point = 0;
  art::Rel pred = before;
  if (n->has_entry) {
    ++entries;
    WEASEL_ASSERT(n->range <= n->point);
    WEASEL_ASSERT(n->point <= s.max_point);
    pred = n->range;
    max_point = n->point;
  }
  int children = 0;
  int prev_byte = -1;
  for_each_child(n, [&](unsigned b, const Slot& c) {
    WEASEL_ASSERT(static_cast<int>(b) > prev_byte);
    prev_byte = static_cast<int>(b);
    ++children;
    WEASEL_ASSERT(c.max_point <= s.max_point);
    key.push_back(static_cast<char>(b));
    art::Rel child_last = 0;
    check_node(c, key, pred, entries, heap_bytes, child_last);
    key.pop_back();
    pred = child_last;
    max_point = std::max(max_point, c.max_point);
  });
  WEASEL_ASSERT(children == n->count);
  if (n->type == Type::k48) {
    auto* m = static_cast<const Node48*>(n);
    WEASEL_ASSERT(__builtin_popcountll(m->used) == n->count);
    unsigned last = 0;  // index[] entry of the closest child so far (0: none)
    for (int b = 0; b < 256; ++b) {
      unsigned at = m->index[b];
      WEASEL_ASSERT(art::has_bit(m->bits, b) == art::index_present(at));
      if (art::index_present(at)) {
        WEASEL_ASSERT(at <= 48 && ((m->used >> (at - 1)) & 1));
        last = at;
      } else {
        // An absent byte names its closest smaller child, or 0 when none.
        WEASEL_ASSERT(at == (last != 0 ? (art::kIndexAbsent | last) : 0));
      }
    }
  }
  WEASEL_ASSERT(max_point <= s.max_point);
  WEASEL_ASSERT(s.tail == pred);  // the tail is exact: version_at relies on it
  last_range = pred;
  key.resize(key_len);
}

}  // namespace weasel::cset
