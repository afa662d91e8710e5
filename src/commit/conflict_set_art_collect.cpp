// ArtTree's garbage collection: slices of an in-order walk from a cursor key that remove
// the entries no longer changing any answer (conflict_set_art.hpp, collect()). Node layouts
// and settling live in conflict_set_art_nodes.cpp, queries and writes in conflict_set_art.cpp.

#include <algorithm>

#include "commit/conflict_set_art.hpp"

namespace weasel::cset {

using art::Node;
using art::Rel;
using art::Slot;

namespace {

// The lines of the next child a collection walk will enter, while it walks the current one.
inline void prefetch_for_walk(const Node* n) {
  if (art::is_leaf_word(n)) return;
  const char* p = reinterpret_cast<const char*>(n);
  for (size_t line = 0; line < (sizeof(art::Node16) + 63) / 64; ++line) {
    __builtin_prefetch(p + 64 * line);
  }
}

}  // namespace

// An entry is redundant when removing it leaves every query with v >= oldest unchanged: its
// key and the keys after it would take the predecessor's range version instead, so both
// versions must equal it, or all three must be <= oldest (never above any valid v).
size_t ArtTree::collect(uint64_t oldest, size_t budget) {
  set_floor(oldest);
  // (Clamped, oldest is exact enough: every stored version at or below the base is too.)
  const Rel rel_oldest = rel_query(oldest);
  size_t examined = 0;
  while (examined < budget && entry_count_ > 0) {
    GcState st{rel_oldest, budget - examined, 0, lookup(gc_cursor_).before, false, 0};
    gc_key_.clear();
    collect_in(root_, 0, true, st);
    if (root_.child == nullptr) root_ = Slot{nullptr, 0, 0};
    examined += std::max<size_t>(st.examined, 1);
    if (st.stopped) {
      gc_cursor_.assign(gc_key_);
    } else {
      gc_cursor_.clear();  // reached the end: wrap around
    }
  }
  return examined;
}

// In-order walk of the entries >= gc_cursor_ (lo_on: the subtree's keys start with
// gc_cursor_[0, depth)). When the budget runs out, gc_key_ is left holding the key of the
// first entry not examined.
void ArtTree::collect_in(Slot& s, size_t depth, bool lo_on, GcState& st) {
  std::string_view lo = gc_cursor_;
  if (art::is_leaf_word(s.child)) {
    collect_leaf(s, depth, lo_on, st);
    return;
  }
  Node* n = s.child;
  if (lo_on) {
    int c = art::compare_prefix(lo, depth, n);
    if (c > 0) return;
    lo_on = c == 0;
  }
  size_t key_len = gc_key_.size();
  size_t removed = st.removed;
  if (n->prefix_len != 0) gc_key_.append(reinterpret_cast<const char*>(n->prefix()), n->prefix_len);
  size_t e = depth + n->prefix_len;
  if (n->has_entry && (!lo_on || lo.size() == e)) {
    if (st.examined == st.budget) {
      st.stopped = true;
      return;  // nothing changed here yet
    }
    ++st.examined;
    bool redundant = (n->point <= st.oldest && st.pred <= st.oldest) ||
                     (n->point == st.pred && n->range == st.pred);
    if (redundant) {
      n->has_entry = false;
      --entry_count_;
      ++st.removed;
    } else {
      st.pred = n->range;
    }
  }
  bool lo_in = lo_on && lo.size() > e;
  unsigned first = lo_in ? static_cast<uint8_t>(lo[e]) : 0;
  if (n->type == art::Type::k256) {
    collect_wide(static_cast<art::Node256*>(n), first, lo_in, e + 1, st);
  } else if (n->type == art::Type::k48) {
    auto* m = static_cast<art::Node48*>(n);
    uint16_t children = m->count;
    collect_wide(m, first, lo_in, e + 1, st);
    // The walk unlinks children without a branch, so the absent bytes' entries are redone
    // once here, and only if it removed any.
    if (m->count != children) art::rebuild_absent(m);
  } else {
    collect_sorted(n, first, lo_in, e + 1, st);
  }
  // A stopped walk leaves gc_key_ at the resume point. The node may have lost entries either
  // way; when stopped, it still holds the entry to resume at, so it stays.
  if (!st.stopped) gc_key_.resize(key_len);
  if (st.removed != removed) settle(s, false);
}

namespace {

// The child slot at `byte` of a node with a bit set of its children.
inline Slot& wide_slot(art::Node256* m, unsigned byte) {
  return m->slots[byte];
}
inline Slot& wide_slot(art::Node48* m, unsigned byte) {
  return m->slots[m->index[byte] - 1];
}

// Whether the inline leaf in s is redundant (1) or stays (0), given the range version of the
// last entry kept before it; moves `pred` on to the leaf's range when it stays. No branch on
// the outcome: to the branch predictor it is a coin toss.
inline uint64_t leaf_gone(const Slot& s, Rel oldest, Rel& pred) {
  Rel point = s.max_point;
  Rel range = s.tail;
  uint64_t gone = ((point <= oldest) & (pred <= oldest)) | ((point == pred) & (range == pred));
  pred = gone != 0 ? pred : range;
  return gone;
}

// Unlinks the child at `byte` when `gone` is 1, changes nothing when it is 0 (no branch:
// whether a leaf is redundant is a coin toss to the branch predictor). The caller clears
// the byte's bit and lowers the count; for a Node48, collect_in then redoes the index[]
// entries of the bytes left absent.
inline void unlink_wide(art::Node256* m, unsigned byte, uint64_t gone) {
  Slot& c = m->slots[byte];
  c.child = reinterpret_cast<Node*>(reinterpret_cast<uintptr_t>(c.child) & (gone - 1));
}
inline void unlink_wide(art::Node48* m, unsigned byte, uint64_t gone) {
  unsigned slot = m->index[byte] - 1u;
  Slot& c = m->slots[slot];
  c.child = reinterpret_cast<Node*>(reinterpret_cast<uintptr_t>(c.child) & (gone - 1));
  m->used &= ~(gone << slot);
  m->index[byte] = static_cast<uint8_t>(m->index[byte] & (gone - 1));
}

}  // namespace

// collect_in's walk over the children of a Node48 or Node256 from byte `first`, where most
// entries are: the inline leaves are examined in one loop that keeps the walk's state in
// registers (GcState is written back only around a call into a child node), and the bits
// of the leaves it removes are cleared once per word of the bit set.
template <class Wide>
void ArtTree::collect_wide(Wide* m, unsigned first, bool lo_in, size_t depth, GcState& st) {
  if (lo_in) {  // the child at the cursor's byte, if any, resumes the walk inside it
    if (art::has_bit(m->bits, first)) {
      art::Visit v = collect_child(m, first, wide_slot(m, first), depth, true, st);
      if (v == art::Visit::kStop) return;
      if (v == art::Visit::kRemove) {
        unlink_wide(m, first, 1);
        m->bits[first >> 6] &= ~(uint64_t{1} << (first & 63));
        --m->count;
      }
    }
    if (first == 255) return;
    ++first;
  }
  const Rel oldest = st.oldest;
  const bool ahead = grouping_pays();  // fetch the next child node while in this one
  Rel pred = st.pred;
  size_t left = st.budget - st.examined;  // one counter, not two: fewer registers in the loop
  size_t removed = 0;                     // leaves removed from m since the last flush
  size_t nested = 0;                      // entries removed below m since then
  unsigned emptied = 0;                   // nodes below m that went with them
  uint64_t dropped = 0;                   // the bits of the children m lost, in word w
  unsigned w = first >> 6;
  // GcState and the node's bits and count up to date, before a call or a return.
  auto flush = [&] {
    m->bits[w] &= ~dropped;
    dropped = 0;
    m->count = static_cast<uint16_t>(m->count - removed - emptied);
    st.removed += removed + nested;
    entry_count_ -= removed + nested;
    removed = 0;
    nested = 0;
    emptied = 0;
    st.pred = pred;
    st.examined = st.budget - left;
  };
  uint64_t bits = m->bits[w] & (~uint64_t{0} << (first & 63));
  for (;;) {
    while (bits != 0) {
      unsigned b = w * 64 + static_cast<unsigned>(__builtin_ctzll(bits));
      bits &= bits - 1;
      Slot& c = wide_slot(m, b);
      if (art::is_leaf_word(c.child)) [[likely]] {
        if (left == 0) {
          flush();
          gc_key_.push_back(static_cast<char>(b));
          append_leaf_bytes(c.child);
          st.stopped = true;
          return;
        }
        --left;
        uint64_t gone = leaf_gone(c, oldest, pred);
        removed += gone;
        dropped |= gone << (b & 63);
        unlink_wide(m, b, gone);
        continue;
      }
      if (ahead && bits != 0) {
        prefetch_for_walk(wide_slot(m, w * 64 + static_cast<unsigned>(__builtin_ctzll(bits))).child);
      }
      if (int gone = collect_leaves(c, oldest, pred, left); gone >= 0) {
        // A small node of leaves (two keys that share a byte here), walked in place.
        nested += static_cast<size_t>(gone);
        if (c.child == nullptr) {
          unlink_wide(m, b, 1);
          dropped |= uint64_t{1} << (b & 63);
          ++emptied;
        }
        continue;
      }
      flush();
      art::Visit v = collect_child(m, b, c, depth, false, st);
      if (v == art::Visit::kStop) return;
      pred = st.pred;
      left = st.budget - st.examined;
      if (v == art::Visit::kRemove) {  // its entries were counted inside it
        unlink_wide(m, b, 1);
        m->bits[w] &= ~(uint64_t{1} << (b & 63));
        --m->count;
      }
    }
    if (w == 3) break;
    flush();
    bits = m->bits[++w];
  }
  flush();
}

// For collect_wide: when the node in c is a sorted node (Node4, 16 or 32) holding only inline
// leaves and no entry of its own, and the budget covers them all, examines them in place (the
// kept ones move down over the removed ones), settles the node and returns the entries removed
// (c.child is null when none is left; the caller takes them off entry_count_); else changes
// nothing and returns -1.
int ArtTree::collect_leaves(Slot& c, Rel oldest, Rel& pred, size_t& left) {
  Node* n = c.child;
  if (!art::is_sorted_type(n->type) || n->has_entry || left < n->count) {
    return -1;
  }
  uint8_t* keys = art::sorted_keys(n);
  Slot* slots = art::sorted_slots(n);
  int count = n->count;
  for (int i = 0; i < count; ++i) {
    if (!art::is_leaf_word(slots[i].child)) return -1;
  }
  left -= static_cast<size_t>(count);
  int kept = 0;
  for (int i = 0; i < count; ++i) {
    Slot leaf = slots[i];
    uint8_t key = keys[i];
    uint64_t gone = leaf_gone(leaf, oldest, pred);
    keys[kept] = key;
    slots[kept] = leaf;
    kept += static_cast<int>(1 - gone);
  }
  if (kept == count) return 0;
  n->count = static_cast<uint16_t>(kept);
  settle(c, false);
  return count - kept;
}

// collect_in's walk over a sorted node's children from byte `first`.
void ArtTree::collect_sorted(Node* n, unsigned first, bool lo_in, size_t depth, GcState& st) {
  art::visit_children(n, first, [&](unsigned at, Slot& c) {
    bool c_lo = lo_in && at == first;
    if (art::is_leaf_word(c.child) && !c_lo) {
      // Most entries: a leaf in this node's slot, examined here without a call.
      if (st.examined == st.budget) {
        gc_key_.push_back(static_cast<char>(at));
        append_leaf_bytes(c.child);
        st.stopped = true;
        return art::Visit::kStop;
      }
      return examine_leaf(c, st) ? art::Visit::kNext : art::Visit::kRemove;
    }
    return collect_child(n, at, c, depth, c_lo, st);
  });
}

// collect_in's step for a child that is a node (or the leaf at the cursor): out of line, so
// that the walk over a node's inline leaves stays one tight loop.
art::Visit ArtTree::collect_child(Node* n, unsigned at, Slot& c, size_t depth, bool lo_on,
                                  GcState& st) {
  // Ask for the next sibling node's first lines while this one is walked.
  unsigned next_at = 0;
  const Slot* next = at < 255 ? art::next_child(n, at + 1, &next_at) : nullptr;
  if (next != nullptr && !art::is_leaf_word(next->child)) {
    __builtin_prefetch(next->child);
    __builtin_prefetch(reinterpret_cast<const char*>(next->child) + 64);
    __builtin_prefetch(reinterpret_cast<const char*>(next->child) + 128);
  }
  gc_key_.push_back(static_cast<char>(at));
  collect_in(c, depth, lo_on, st);
  if (st.stopped) return art::Visit::kStop;
  gc_key_.pop_back();
  return c.child == nullptr ? art::Visit::kRemove : art::Visit::kNext;
}

// collect_in for an inline leaf: one entry, in the slot.
void ArtTree::collect_leaf(Slot& s, size_t depth, bool lo_on, GcState& st) {
  if (lo_on && art::compare_leaf(gc_cursor_, depth, s.child) > 0) return;  // before the cursor
  if (st.examined == st.budget) {
    append_leaf_bytes(s.child);
    st.stopped = true;
    return;
  }
  examine_leaf(s, st);
}

// Examines the inline leaf in s; returns false when it was redundant and is gone (s.child
// null).
bool ArtTree::examine_leaf(Slot& s, GcState& st) {
  ++st.examined;
  Rel point = s.max_point;
  Rel range = s.tail;
  if ((point <= st.oldest && st.pred <= st.oldest) || (point == st.pred && range == st.pred)) {
    s.child = nullptr;
    --entry_count_;
    ++st.removed;
    return false;
  }
  st.pred = range;
  return true;
}

void ArtTree::append_leaf_bytes(const Node* word) {
  uint8_t bytes[art::kInlineLeafBytes];
  art::leaf_bytes(word, bytes);
  gc_key_.append(reinterpret_cast<const char*>(bytes), art::leaf_len(word));
}

}  // namespace weasel::cset
