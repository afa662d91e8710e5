#pragma once
// SkipList: the memtable's ordered index (LevelDB's design, with RocksDB's inline nodes).
// Each entry's bytes live in the same allocation as its node, right after the node's links,
// so visiting a node during a search reads its link and the start of its key from adjacent
// memory: one cache miss per node where a pointer to a separate entry cost two. The list
// never removes anything.
//
// Contract
// - allocate_entry(bytes) returns room for one entry (its node comes with it); the caller
//   fills it, then passes the same pointer to insert() before allocating the next one. An
//   allocated entry that is never inserted only wastes its arena bytes.
// - One writer at a time allocates and inserts (the DB serializes writers); any number of
//   readers may search and iterate concurrently, without locks. A reader sees a prefix of
//   the insertions in the writer's order, each one whole: nodes are published with release
//   stores after they are fully built, and read with acquire loads.
// - insert() of an entry equal to one already present is a bug (asserted): internal keys are
//   unique because each write has its own sequence number.
// - Heights come from a fixed-seed generator, so runs are reproducible.
//
// Ownership: nodes and their entries live in the borrowed MemTableArena (which must outlive
// the list) and die with it.
// Comparator: `Key decode(const char* entry) const` (the searched entry, decoded once per
// search rather than once per comparison) and `int compare(const char* entry, const Key& key)
// const` (<0, 0, >0 as entry orders before, equal to, after key).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "storage/memtable_arena.hpp"
#include "core/assert.hpp"

namespace weaseldb::storage {

template <class Comparator>
class SkipList {
  struct Node;

 public:
  static constexpr int kMaxHeight = 12;
  // A searched entry, decoded once per search.
  using Key = decltype(std::declval<const Comparator&>().decode(nullptr));

  SkipList(Comparator compare, MemTableArena* arena)
      : compare_(compare), arena_(arena), head_(new_node(kMaxHeight, 0)) {
    for (int i = 0; i < kMaxHeight; ++i) head_->set_next(i, nullptr);
  }
  SkipList(const SkipList&) = delete;
  SkipList& operator=(const SkipList&) = delete;

  // Room for an entry of `bytes` bytes, in the node insert() will link.
  char* allocate_entry(size_t bytes) {
    int height = random_height();
    Node* node = new_node(height, bytes);
    // Until insert() links it, the level-0 link holds the height (RocksDB's trick): no
    // field of its own for a value needed once.
    node->set_next_relaxed(0, reinterpret_cast<Node*>(static_cast<uintptr_t>(height)));
    return node->entry();
  }

  // Links an entry from allocate_entry(), filled in by the caller.
  void insert(const char* entry) {
    Node* node = Node::of(entry);
    int height = static_cast<int>(reinterpret_cast<uintptr_t>(node->next_relaxed(0)));
    WEASEL_ASSERT(height >= 1 && height <= kMaxHeight);
    Node* prev[kMaxHeight];
    auto key = compare_.decode(entry);
    Node* x = find_greater_or_equal(key, prev);
    WEASEL_ASSERT(x == nullptr || compare_.compare(x->entry(), key) != 0);
    int max_height = max_height_.load(std::memory_order_relaxed);
    if (height > max_height) {
      for (int i = max_height; i < height; ++i) prev[i] = head_;
      // Readers that see the new height before the node find nullptr links from head_ at
      // the new levels, which simply send them one level down.
      max_height_.store(height, std::memory_order_relaxed);
    }
    for (int i = 0; i < height; ++i) {
      node->set_next_relaxed(i, prev[i]->next_relaxed(i));
      prev[i]->set_next(i, node);  // publishes the fully built node
    }
  }

  bool contains(const char* entry) const {
    auto key = compare_.decode(entry);
    Node* x = find_greater_or_equal(key, nullptr);
    return x != nullptr && compare_.compare(x->entry(), key) == 0;
  }

  class Iterator {
   public:
    explicit Iterator(const SkipList* list) : list_(list) {}
    bool valid() const { return node_ != nullptr; }
    const char* entry() const {
      WEASEL_ASSERT(valid());
      return node_->entry();
    }
    void next() {
      WEASEL_ASSERT(valid());
      node_ = node_->next(0);
      prefetch_following();
    }
    void prev() {
      WEASEL_ASSERT(valid());
      node_ = list_->find_less_than(list_->compare_.decode(node_->entry()));
      if (node_ == list_->head_) node_ = nullptr;
    }
    void seek(const char* target) { seek_decoded(list_->compare_.decode(target)); }
    // The same, for a target already decoded: an iterator's seek need not encode an entry.
    void seek_decoded(const Key& target) { node_ = list_->find_greater_or_equal(target, nullptr); }
    void seek_to_first() {
      node_ = list_->head_->next(0);
      prefetch_following();
    }
    void seek_to_last() {
      node_ = list_->find_last();
      if (node_ == list_->head_) node_ = nullptr;
    }

   private:
    // A scan (a flush above all) reads every entry it steps on, and after random inserts the
    // next node is anywhere in the arena: its cache misses (link, key and value, up to three
    // lines) start now, while the caller works on this entry. A flush of a 64 MiB memtable
    // of random keys spent more time waiting for its entries than compressing them.
    void prefetch_following() const {
      if (node_ == nullptr) return;
      const Node* following = node_->next_relaxed(0);
      if (following == nullptr) return;
      const char* at = following->entry();
      __builtin_prefetch(at - sizeof(std::atomic<Node*>));  // its level-0 link
      __builtin_prefetch(at + 56);
      __builtin_prefetch(at + 120);
    }

    const SkipList* list_;
    Node* node_ = nullptr;
  };

 private:
  // A node is `height` links stored downwards from its address (level 0 right below it),
  // followed at its address by the entry's bytes. A Node* is never dereferenced as an
  // object: it names that boundary.
  struct Node {
    static Node* of(const char* entry) {
      return reinterpret_cast<Node*>(const_cast<char*>(entry));
    }
    char* entry() const { return reinterpret_cast<char*>(const_cast<Node*>(this)); }

    std::atomic<Node*>* link(int level) const {
      return reinterpret_cast<std::atomic<Node*>*>(const_cast<Node*>(this)) - 1 - level;
    }
    Node* next(int level) const { return link(level)->load(std::memory_order_acquire); }
    void set_next(int level, Node* n) { link(level)->store(n, std::memory_order_release); }
    Node* next_relaxed(int level) const { return link(level)->load(std::memory_order_relaxed); }
    void set_next_relaxed(int level, Node* n) { link(level)->store(n, std::memory_order_relaxed); }
  };

  Node* new_node(int height, size_t entry_bytes) {
    size_t link_bytes = sizeof(std::atomic<Node*>) * static_cast<size_t>(height);
    char* memory = static_cast<char*>(
        arena_->allocate(link_bytes + entry_bytes, alignof(std::atomic<Node*>)));
    Node* node = Node::of(memory + link_bytes);
    for (int i = 0; i < height; ++i) ::new (node->link(i)) std::atomic<Node*>(nullptr);
    return node;
  }

  int random_height() {
    // xorshift64*: cheap and deterministic; height grows with probability 1/4 per level.
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    uint64_t bits = rng_ * 0x2545F4914F6CDD1DULL;
    int height = 1;
    while (height < kMaxHeight && (bits & 3) == 0) {
      ++height;
      bits >>= 2;
    }
    return height;
  }

  static void prefetch(const Node* node) {
    if (node != nullptr) __builtin_prefetch(node->entry());
  }

  // The first node >= key (nullptr if none); fills prev[level] with the last node < key.
  Node* find_greater_or_equal(const Key& key, Node** prev) const {
    Node* x = head_;
    int level = max_height_.load(std::memory_order_relaxed) - 1;
    Node* known_not_before = nullptr;  // a node already found >= key: no need to compare again
    while (true) {
      Node* next = x->next(level);
      // The node a step down would compare next is known before next's key arrives: start
      // its cache miss now, so the two overlap (RocksDB's prefetch of the splice's "before").
      if (level > 0) prefetch(x->next_relaxed(level - 1));
      if (next != nullptr && next != known_not_before && compare_.compare(next->entry(), key) < 0) {
        x = next;
      } else {
        known_not_before = next;
        if (prev != nullptr) prev[level] = x;
        if (level == 0) return next;
        --level;
      }
    }
  }

  // The last node < key, or head_.
  Node* find_less_than(const Key& key) const {
    Node* x = head_;
    int level = max_height_.load(std::memory_order_relaxed) - 1;
    while (true) {
      Node* next = x->next(level);
      if (next != nullptr && compare_.compare(next->entry(), key) < 0) {
        x = next;
      } else {
        if (level == 0) return x;
        --level;
      }
    }
  }

  Node* find_last() const {
    Node* x = head_;
    int level = max_height_.load(std::memory_order_relaxed) - 1;
    while (true) {
      Node* next = x->next(level);
      if (next != nullptr) {
        x = next;
      } else {
        if (level == 0) return x;
        --level;
      }
    }
  }

  Comparator compare_;
  MemTableArena* arena_;
  Node* head_;
  std::atomic<int> max_height_{1};
  uint64_t rng_ = 0x9E3779B97F4A7C15ULL;
};

}  // namespace weaseldb::storage
