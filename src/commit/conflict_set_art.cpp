// ArtTree: descents, queries and writes. Garbage collection lives in
// conflict_set_art_collect.cpp; node layouts, growth, shrinking and the invariant check in
// conflict_set_art_nodes.cpp.

#include <algorithm>

#include "commit/conflict_set_art.hpp"

namespace weasel::cset {

using art::Node;
using art::Rel;
using art::Slot;

namespace {

constexpr Rel kZero = 0;

// Every line a write's step through `n` may read or change, asked for before its type is
// known (the header says, a miss later): prefetch_node()'s, the slot a Node256 holds for
// the next key byte, and the whole of a Node16 (its slots, which an insertion shifts). In a
// tree larger than the cache that is one round trip to memory per level instead of three.
inline void prefetch_for_write(const Node* n, std::string_view key, size_t depth) {
  if (art::is_leaf_word(n)) return;
  const char* p = reinterpret_cast<const char*>(n);
  for (size_t line = 0; line < (sizeof(art::Node16) + 63) / 64; ++line) {
    __builtin_prefetch(p + 64 * line);
  }
  if (depth < key.size()) {
    auto byte = static_cast<uint8_t>(key[depth]);
    __builtin_prefetch(p + 96 + byte);  // Node48's index entry
    __builtin_prefetch(&static_cast<const art::Node256*>(n)->slots[byte]);
  }
}

// One step of a descent for `key`: reads the node the slot leads to and returns the slot
// to go on with, or null once the answer is known (then in *out).
struct Descent {
  const Slot* slot;
  const Node* node;   // slot->child, read ahead
  const Rel* before;  // version of the keys just before slot's subtree
  size_t depth;
};

// *out points at the answer once it is known: the caller reads it when it likes (a
// grouped descent reads it last, so that its miss overlaps the others').
inline const Slot* step(Descent& d, std::string_view key, const Rel** out) {
  const Node* n = d.node;
  if (n == nullptr) {
    *out = d.before;
    return nullptr;
  }
  if (art::is_leaf_word(n)) {
    int c = art::compare_leaf(key, d.depth, n);
    *out = c < 0 ? d.before : c > 0 ? &d.slot->tail : &d.slot->max_point;
    return nullptr;
  }
  int c = art::compare_prefix(key, d.depth, n);
  if (c != 0) {
    *out = c < 0 ? d.before : &d.slot->tail;
    return nullptr;
  }
  d.depth += n->prefix_len;
  if (d.depth == key.size()) {
    *out = n->has_entry ? &n->point : d.before;
    return nullptr;
  }
  if (n->has_entry) d.before = &n->range;
  const Slot* pred = nullptr;
  const Slot* next = art::find_child(n, static_cast<uint8_t>(key[d.depth]), &pred);
  if (pred != nullptr) d.before = &pred->tail;
  if (next == nullptr) {
    *out = d.before;
    return nullptr;
  }
  ++d.depth;
  return next;
}

// Adds a child to a Node4 that split_leaf() just made (two children at most, so no growth);
// returns its slot, which stays put as long as no smaller byte is added after it.
inline Slot* put_in_fresh_node4(art::Node4* n, uint8_t byte, const Slot& child) {
  int i = n->count;
  WEASEL_ASSERT(i < 2 && (i == 0 || n->keys[0] != byte));
  if (i == 1 && n->keys[0] > byte) {
    n->keys[1] = n->keys[0];
    n->slots[1] = n->slots[0];
    i = 0;
  }
  n->keys[i] = byte;
  n->slots[i] = child;
  ++n->count;
  return &n->slots[i];
}

}  // namespace

ArtTree::ArtTree(bool huge_pages, size_t node32_from_entries)
    : node32_from_entries_(node32_from_entries),
      nodes0_(huge_pages),
      nodes4_(huge_pages),
      nodes16_(huge_pages),
      nodes32_(huge_pages),
      nodes48_(huge_pages),
      nodes256_(huge_pages) {}

ArtTree::~ArtTree() {
  clear();
}

void ArtTree::clear() {
  if (root_.child != nullptr) free_subtree(root_.child);
  root_ = Slot{nullptr, 0, 0};
  max_version_ = 0;
  base_ = floor_;  // nothing stored: the highest base allowed is free
  entry_count_ = 0;
  gc_cursor_.clear();
}

// Makes room for a write at v (>= every stored version). Rare: versions advance one by one
// in the pipeline, so v outgrows the base at most once per 2^31 of them (ConflictSet's span
// leaves that much room above the floor), or on a jump; the base then rises as far as
// allowed, to the floor, in one walk over the tree (O(n), amortised over those versions).
void ArtTree::fit_far(uint64_t v) {
  if (v <= base_) return;  // (a write at or below the floor, after clear(): stored as 0)
  // The owner keeps the versions in use within kMaxRel of the floor (ConflictSet's window).
  WEASEL_ASSERT(v >= floor_ && v - floor_ <= art::kMaxRel);
  rebase(floor_);
}

void ArtTree::rebase(uint64_t base) {
  WEASEL_ASSERT(base >= base_ && base <= floor_);
  if (root_.child != nullptr) rebase_subtree(root_, base - base_);
  base_ = base;
  ++rebases_;
}

ArtTree::Lookup ArtTree::lookup(std::string_view key) const {
  const Slot* s = &root_;
  if (s->child == nullptr) return {false, 0};
  art::Trail trail;
  size_t depth = 0;
  for (;;) {
    const Node* n = s->child;
    if (art::is_leaf_word(n)) {
      int c = art::compare_leaf(key, depth, n);
      return {c == 0, c > 0 ? s->tail : *trail.before()};
    }
    int c = art::compare_prefix(key, depth, n);
    if (c != 0) return {false, c < 0 ? *trail.before() : s->tail};
    depth += n->prefix_len;
    if (depth == key.size()) return {n->has_entry, *trail.before()};
    auto byte = static_cast<uint8_t>(key[depth]);
    trail.push(n, byte);
    s = art::child_at(n, byte);
    if (s == nullptr) return {false, *trail.before()};
    ++depth;
  }
}

Rel ArtTree::version_far(std::string_view key) const {
  return version_in<true>(key);
}

// Every key takes one step in turn, in two passes per round: search every node and request
// the slot to follow, then read every slot and request its node. Each load was requested a
// whole pass earlier, so up to n misses are in flight at once instead of one.
void ArtTree::versions_at(const std::string_view* keys, int n, uint64_t* out) const {
  WEASEL_ASSERT(n <= kGroup);
  if (!grouping_pays()) {
    // In cache: the interleaving would only add work.
    for (int i = 0; i < n; ++i) out[i] = base_ + version_in<false>(keys[i]);
    return;
  }
  Descent d[kGroup];
  const Rel* answers[kGroup];
  int live[kGroup];
  int m = 0;
  for (int i = 0; i < n; ++i) {
    d[i] = Descent{&root_, root_.child, &kZero, 0};
    live[m++] = i;
  }
  while (m > 0) {
    int kept = 0;
    for (int j = 0; j < m; ++j) {
      int i = live[j];
      const Slot* next = step(d[i], keys[i], &answers[i]);
      if (next == nullptr) {
        __builtin_prefetch(answers[i]);
        continue;
      }
      d[i].slot = next;
      __builtin_prefetch(next);
      live[kept++] = i;
    }
    m = kept;
    for (int j = 0; j < m; ++j) {
      Descent& di = d[live[j]];
      di.node = di.slot->child;
      art::prefetch_node(di.node, keys[live[j]], di.depth);
    }
  }
  for (int i = 0; i < n; ++i) out[i] = base_ + *answers[i];
}

void ArtTree::prefetch_leaves(const std::string_view* keys, int n) const {
  if (!grouping_pays()) return;
  uint64_t unused[kGroup];
  versions_at(keys, n, unused);
}

bool ArtTree::any_above(std::string_view begin, std::optional<std::string_view> end,
                        uint64_t v) const {
  WEASEL_ASSERT(v >= floor_);
  Rel rv = rel_query(v);
  if (max_version_ <= v || root_.max_point <= rv) return false;
  return any_above_in(root_, 0, begin, true, end ? *end : std::string_view{}, end.has_value(), rv);
}

// Entries strictly between lo and hi in the subtree of `s`, whose keys start with lo[0,
// depth) when lo_on and with hi[0, depth) when hi_on (else the bound is beyond the subtree).
bool ArtTree::any_above_in(const Slot& s, size_t depth, std::string_view lo, bool lo_on,
                           std::string_view hi, bool hi_on, Rel v) const {
  if (s.max_point <= v) return false;
  if (!lo_on && !hi_on) return true;
  art::Node0 leaf;
  const Node* n = art::is_leaf_word(s.child) ? art::view_leaf(s, &leaf) : s.child;
  if (lo_on) {
    int c = art::compare_prefix(lo, depth, n);
    if (c > 0) return false;
    lo_on = c == 0;
  }
  if (hi_on) {
    int c = art::compare_prefix(hi, depth, n);
    if (c < 0) return false;
    hi_on = c == 0;
  }
  size_t e = depth + n->prefix_len;
  // With lo_on, lo is at least e bytes long: the entry here is lo or before it.
  if (!lo_on && n->has_entry && n->point > v && (!hi_on || hi.size() > e)) return true;
  if (hi_on && hi.size() == e) return false;  // every child is after hi
  bool lo_in = lo_on && lo.size() > e;        // lo falls among the children
  unsigned first = lo_in ? static_cast<uint8_t>(lo[e]) : 0;
  unsigned last = hi_on ? static_cast<uint8_t>(hi[e]) : 255;
  unsigned at = 0;
  for (unsigned b = first; b <= last; b = at + 1) {
    const Slot* c = art::next_child(n, b, &at);
    if (c == nullptr || at > last) break;
    bool c_lo = lo_in && at == first;
    bool c_hi = hi_on && at == last;
    if (c_lo || c_hi) {
      if (any_above_in(*c, e + 1, lo, c_lo, hi, c_hi, v)) return true;
    } else if (c->max_point > v) {
      return true;
    }
    if (at == 255) break;
  }
  return false;
}

// (The rebase goes through a separate tail call, so that the common path keeps no frame.)
void ArtTree::write_point(std::string_view key, uint64_t v) {
  WEASEL_ASSERT(v >= max_version_);
  if (v - base_ > art::kMaxRel) [[unlikely]] {
    write_point_far(key, v);
    return;
  }
  max_version_ = v;
  upsert<false, true>(key, static_cast<Rel>(v - base_));  // v >= base_ here: no clamp
}

void ArtTree::write_point_far(std::string_view key, uint64_t v) {
  fit_far(v);
  max_version_ = v;
  upsert<false, true>(key, rel(v));
}

// The paths are fetched together (a grouped lookup), then written one after the other from
// the cache. Points at different keys do not interact, and equal keys keep their order.
void ArtTree::write_points(const std::string_view* keys, const uint64_t* versions, int n) {
  WEASEL_ASSERT(n <= kGroup && (n == 0 || versions[0] >= max_version_));
  // The grouped walk costs as many instructions as the writes' own descents: it pays only
  // when those would miss the cache, i.e. for a tree larger than a core's cache holds.
  if (n == 0) return;
  fit(versions[n - 1]);  // the newest: every other one fits then too
  if (n > 1) prefetch_leaves(keys, n);
  for (int i = 0; i < n; ++i) {
    WEASEL_ASSERT(i == 0 || versions[i - 1] <= versions[i]);
    max_version_ = versions[i];
    upsert<false, true>(keys[i], rel(versions[i]));
  }
}

// A slot for a new leaf holding key[from, end): inline when the bytes fit.
inline Slot ArtTree::new_leaf(std::string_view key, size_t from, Rel point, Rel range) {
  size_t len = key.size() - from;
  if (len > art::kInlineLeafBytes) return Slot{make_leaf(key, from, point, range), point, range};
  ++entry_count_;
  ++inserted_total_;
  return Slot{art::leaf_word(reinterpret_cast<const uint8_t*>(key.data()) + from, len), point,
              range};
}

// Sets key's point version, inserting it (its range then is the version before it) when it
// is absent, and raises the bounds on its path on the way down (a slot's bound is raised
// only once the key is known to go below it: a split leaves the old node its own bound).
// kPath: path_ keeps the slots from the root down to the entry's own (write_range then
// refreshes their tails). kNewest: point is >= every version in the tree, so it is the new
// bound of every slot on the path as it is (a store, not a max).
template <bool kPath, bool kNewest>
ArtTree::Entry ArtTree::upsert(std::string_view key, Rel point) {
  auto raise = [point](Rel& bound) { bound = kNewest ? point : std::max(bound, point); };
  path_.clear();
  Slot* s = &root_;
  // Where the version before the key is, looked for only if the key is new.
  art::Trail trail;
  size_t depth = 0;
  Entry found{nullptr, nullptr};
  const bool prefetch = grouping_pays();
  for (;;) {
    if constexpr (kPath) path_.push_back(s);
    Node* n = s->child;
    if (n == nullptr) {  // the tree is empty
      s->child = found.node = make_leaf(key, depth, point, 0);
      s->tail = 0;
      break;
    }
    if (art::is_leaf_word(n)) {
      int c = art::compare_leaf(key, depth, n);
      if (c != 0) found = split_leaf(s, depth, key, point, c < 0 ? *trail.before() : s->tail);
      if (c == 0) found.leaf = s;  // its point is the slot's bound, raised below
      break;
    }
    if (size_t plen = n->prefix_len; plen != 0) {  // most inner nodes have none
      size_t avail = key.size() - depth;
      const uint8_t* prefix = n->prefix();
      size_t at = art::common_length(key.data() + depth, prefix, std::min(avail, plen));
      if (at < plen) {
        bool key_first = at == avail || static_cast<uint8_t>(key[depth + at]) < prefix[at];
        found = split(s, depth, at, key, point, key_first ? *trail.before() : s->tail);
        break;
      }
      depth += plen;
    }
    if (depth == key.size()) {
      if (!n->has_entry) {
        n->has_entry = true;
        n->range = *trail.before();
        ++entry_count_;
        ++inserted_total_;
      }
      n->point = point;
      found.node = n;
      break;
    }
    auto byte = static_cast<uint8_t>(key[depth]);
    trail.push(n, byte);
    Slot* next;
    if (n->type == art::Type::k256) {  // most inner nodes a write passes: no dispatch
      next = &static_cast<art::Node256*>(n)->slots[byte];
      if (next->child == nullptr) next = nullptr;
    } else {
      next = const_cast<Slot*>(art::child_at(n, byte));
    }
    if (next == nullptr) {
      Slot* leaf;
      if (n->type == art::Type::k256) {
        // Most insertions into a large tree: the byte's own slot, filled without a call, and
        // the version before the key found in this node's bit set unless the key comes first.
        auto* m = static_cast<art::Node256*>(n);
        int below = art::highest_below(m->bits, byte);
        const Rel* pred = below >= 0 ? &m->slots[below].tail : trail.before();
        m->slots[byte] = new_leaf(key, depth + 1, point, *pred);
        m->bits[byte >> 6] |= uint64_t{1} << (byte & 63);
        ++m->count;
        leaf = &m->slots[byte];
      } else if (n->type == art::Type::k48 && n->count < 48) {  // the same for a Node48
        auto* m = static_cast<art::Node48*>(n);
        unsigned below = m->index[byte] & art::kIndexSlot;  // the byte is absent
        const Rel* pred = below != 0 ? &m->slots[below - 1].tail : trail.before();
        leaf = art::put_in_node48(m, byte, new_leaf(key, depth + 1, point, *pred));
      } else {
        Slot fresh = new_leaf(key, depth + 1, point, *trail.before());
        add_child(*s, byte, fresh);
        // The leaf's own slot ends the path (add_child may have moved the node).
        leaf = const_cast<Slot*>(art::child_at(s->child, byte));
      }
      if constexpr (kPath) path_.push_back(leaf);
      if (art::is_leaf_word(leaf->child)) {
        found.leaf = leaf;
      } else {
        found.node = leaf->child;
      }
      break;
    }
    raise(s->max_point);
    s = next;
    ++depth;
    if (prefetch) prefetch_for_write(s->child, key, depth);
  }
  raise(s->max_point);  // a new leaf's slot has it already
  return found;
}

// The key leaves the prefix of s's node at byte `at`: a new Node4 takes the shared part and
// holds the old node and the key (as its own entry, or a new leaf) as children. The new
// Node4's slot takes the place of the old one, and the key's entry is on path_.
ArtTree::Entry ArtTree::split(Slot* s, size_t depth, size_t at, std::string_view key, Rel point,
                              Rel pred) {
  Node* old = s->child;
  Node* top = make_node(art::Type::k4);
  set_prefix(top, old->prefix(), at);
  uint8_t edge = old->prefix()[at];
  set_prefix(old, old->prefix() + at + 1, old->prefix_len - at - 1);
  Slot old_slot = *s;  // the old node keeps its summaries
  inline_if_small(old_slot);
  Slot top_slot{top, s->max_point, s->tail};
  add_child(top_slot, edge, old_slot);
  Entry found{nullptr, nullptr};
  if (depth + at == key.size()) {
    found = take_new_entry(top, point, pred);
  } else {
    uint8_t byte = static_cast<uint8_t>(key[depth + at]);
    add_child(top_slot, byte, new_leaf(key, depth + at + 1, point, pred));
    Slot* unused = nullptr;
    Slot* leaf = art::find_child(top_slot.child, byte, &unused);
    path_.push_back(leaf);
    found = entry_in(leaf);
  }
  top_slot.tail = art::tail_of(top_slot.child);
  *s = top_slot;
  return found;
}

// A node made by a split holds the new key as its own entry.
ArtTree::Entry ArtTree::take_new_entry(Node* n, Rel point, Rel pred) {
  n->has_entry = true;
  n->point = point;
  n->range = pred;
  ++entry_count_;
  ++inserted_total_;
  return Entry{n, nullptr};
}

ArtTree::Entry ArtTree::entry_in(Slot* slot) {
  if (art::is_leaf_word(slot->child)) return Entry{nullptr, slot};
  return Entry{slot->child, nullptr};
}

// The key differs from the inline leaf in s (the most common insertion next to an existing
// key): a Node4 takes the bytes they share and holds both, each as an inline leaf or the
// node's own entry, without making the leaf a node first. `pred` is the version before the
// key. The leaf's own entry stays as it was.
ArtTree::Entry ArtTree::split_leaf(Slot* s, size_t depth, std::string_view key, Rel point,
                                   Rel pred) {
  uint8_t leaf[art::kInlineLeafBytes + 1] = {};  // one spare byte: the prefix copy takes 8
  art::leaf_bytes(s->child, leaf);
  size_t leaf_len = art::leaf_len(s->child);
  size_t avail = key.size() - depth;
  size_t at = art::common_length(key.data() + depth, leaf, std::min(avail, leaf_len));
  auto* top = static_cast<art::Node4*>(make_node(art::Type::k4));
  std::memcpy(top->inline_prefix, leaf, sizeof(leaf));  // a fresh node: no prefix to release
  top->prefix_len = static_cast<uint32_t>(at);
  Slot top_slot{top, s->max_point, s->tail};
  if (at == leaf_len) {  // the leaf's key is the node's entry; the key goes below
    top->has_entry = true;
    top->point = s->max_point;
    top->range = s->tail;
  } else {
    Slot rest{art::leaf_word(leaf + at + 1, leaf_len - at - 1), s->max_point, s->tail};
    put_in_fresh_node4(top, leaf[at], rest);
  }
  Entry found{nullptr, nullptr};
  if (at == avail) {  // the key is the node's entry
    found = take_new_entry(top, point, pred);
  } else {
    auto byte = static_cast<uint8_t>(key[depth + at]);
    Slot* slot = put_in_fresh_node4(top, byte, new_leaf(key, depth + at + 1, point, pred));
    path_.push_back(slot);
    found = entry_in(slot);
  }
  top_slot.tail = top->count > 0 ? top->slots[top->count - 1].tail : top->range;
  *s = top_slot;
  return found;
}

void ArtTree::write_range(std::string_view begin, std::optional<std::string_view> end, uint64_t v) {
  WEASEL_ASSERT(v >= max_version_);
  WEASEL_ASSERT(!end || compare_keys(begin, *end) < 0);
  fit(v);
  max_version_ = v;
  if (end) {
    // Pin the version that covers `end` today, so that keys from `end` on keep it.
    Lookup at_end = lookup(*end);
    if (!at_end.found) upsert<false, false>(*end, at_end.before);
  }
  if (root_.child != nullptr) {
    erase_in(root_, 0, begin, true, end ? *end : std::string_view{}, end.has_value());
    if (root_.child == nullptr) root_ = Slot{nullptr, 0, 0};
  }
  Entry at = upsert<true, true>(begin, rel(v));
  if (at.node != nullptr) {
    at.node->range = rel(v);
  } else {
    at.leaf->tail = rel(v);
  }
  refresh_tails();
}

// After an entry's range changed: the tails on path_, from the bottom up.
void ArtTree::refresh_tails() {
  for (size_t i = path_.size(); i-- > 0;) {
    Slot* s = path_[i];
    if (!art::is_leaf_word(s->child)) s->tail = art::tail_of(s->child);
  }
}

// Removes the entries strictly between lo and hi (hi_on false at depth 0: no upper bound) in
// the subtree of s, whose keys start with lo[0, depth) when lo_on and hi[0, depth) when hi_on.
void ArtTree::erase_in(Slot& s, size_t depth, std::string_view lo, bool lo_on, std::string_view hi,
                       bool hi_on) {
  art::Node0 view;
  bool leaf = art::is_leaf_word(s.child);
  Node* n = leaf ? const_cast<Node*>(art::view_leaf(s, &view)) : s.child;
  if (lo_on) {
    int c = art::compare_prefix(lo, depth, n);
    if (c > 0) return;
    lo_on = c == 0;
  }
  if (hi_on) {
    int c = art::compare_prefix(hi, depth, n);
    if (c < 0) return;
    hi_on = c == 0;
  }
  if (!lo_on && !hi_on) {
    entry_count_ -= free_subtree(s.child);
    s.child = nullptr;
    return;
  }
  size_t e = depth + n->prefix_len;
  if (!lo_on && n->has_entry && (!hi_on || hi.size() > e)) {
    n->has_entry = false;
    --entry_count_;
    if (leaf) s.child = nullptr;
  }
  if (leaf) return;
  if (!(hi_on && hi.size() == e)) {
    bool lo_in = lo_on && lo.size() > e;
    unsigned first = lo_in ? static_cast<uint8_t>(lo[e]) : 0;
    unsigned last = hi_on ? static_cast<uint8_t>(hi[e]) : 255;
    unsigned at = 0;
    for (unsigned b = first; b <= last; b = at + 1) {
      Slot* c = art::next_child(n, b, &at);
      if (c == nullptr || at > last) break;
      erase_in(*c, e + 1, lo, lo_in && at == first, hi, hi_on && at == last);
      if (c->child == nullptr) remove_child(n, static_cast<uint8_t>(at));
      if (at == 255) break;
    }
  }
  settle(s, false);
}

size_t ArtTree::memory_bytes() const {
  return sizeof(*this) + nodes0_.reserved_bytes() + nodes4_.reserved_bytes() +
         nodes16_.reserved_bytes() + nodes32_.reserved_bytes() + nodes48_.reserved_bytes() +
         nodes256_.reserved_bytes() + keys_.reserved_bytes() + gc_cursor_.capacity() +
         gc_key_.capacity() + scratch_.capacity() + path_.capacity() * sizeof(Slot*);
}

}  // namespace weasel::cset
