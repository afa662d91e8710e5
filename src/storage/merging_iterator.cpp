#include "storage/merging_iterator.hpp"

#include "core/assert.hpp"
#include "storage/internal_key.hpp"

namespace weaseldb::storage {

namespace {

class MergingIterator final : public InternalIterator {
 public:
  explicit MergingIterator(std::vector<std::unique_ptr<InternalIterator>> children)
      : children_(std::move(children)), heap_(children_.size()) {}

  bool valid() const override { return current_ != nullptr; }
  std::string_view key() const override {
    WEASEL_ASSERT(valid());
    return heap_[0].key;
  }
  std::string_view value() const override {
    WEASEL_ASSERT(valid());
    return current_->value();
  }
  Status status() const override { return status_; }

  void seek_to_first() override {
    for (auto& child : children_) child->seek_to_first();
    forward_ = true;
    rebuild();
  }
  void seek_to_last() override {
    for (auto& child : children_) child->seek_to_last();
    forward_ = false;
    rebuild();
  }
  void seek(std::string_view target) override {
    for (auto& child : children_) child->seek(target);
    forward_ = true;
    rebuild();
  }

  void next() override {
    WEASEL_ASSERT(valid());
    if (!forward_) {
      // Every other child is at or before key(): move each to its first entry after it.
      std::string key(current_->key());
      for (auto& child : children_) {
        if (child.get() == current_) continue;
        child->seek(key);
        if (child->valid() && compare_internal_keys(child->key(), key) == 0) child->next();
      }
      forward_ = true;
      current_->next();
      rebuild();
      return;
    }
    current_->next();
    top_moved();
  }

  void prev() override {
    WEASEL_ASSERT(valid());
    if (forward_) {
      // Every other child is after key(): move each to its last entry before it.
      std::string key(current_->key());
      for (auto& child : children_) {
        if (child.get() == current_) continue;
        child->seek(key);
        if (child->valid()) {
          child->prev();
        } else if (child->status().ok()) {
          child->seek_to_last();  // all of its entries are before key
        }
      }
      forward_ = false;
      current_->prev();
      rebuild();
      return;
    }
    current_->prev();
    top_moved();
  }

 private:
  // A valid child and its current key, cached: a child's key stays valid until it moves,
  // and only the top child moves between rebuilds, so each step reads one key() through
  // the child's (virtual, layered) iterator instead of two per comparison.
  struct Child {
    InternalIterator* it;
    std::string_view key;
  };

  // Whether a's entry comes out before b's in the current direction.
  bool before(const Child& a, const Child& b) const {
    int c = compare_internal_keys(a.key, b.key);
    return forward_ ? c < 0 : c > 0;
  }

  void sift_down(size_t i) {
    size_t n = heap_.size();
    const Child moving = heap_[i];
    while (true) {
      size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
      if (!before(heap_[child], moving)) break;
      heap_[i] = heap_[child];
      i = child;
    }
    heap_[i] = moving;
  }

  // A child that stopped on an error stops the merge: skipping it would silently hide its
  // entries.
  void rebuild() {
    heap_.clear();
    status_ = {};
    for (auto& child : children_) {
      if (child->valid()) {
        heap_.push_back({child.get(), child->key()});
      } else if (status_.ok()) {
        status_ = child->status();
      }
    }
    if (!status_.ok()) heap_.clear();
    for (size_t i = heap_.size() / 2; i-- > 0;) sift_down(i);
    current_ = heap_.empty() ? nullptr : heap_[0].it;
  }

  // The top child (current_) moved one step in the current direction.
  void top_moved() {
    WEASEL_ASSERT(!heap_.empty() && heap_[0].it == current_);
    if (current_->valid()) {
      heap_[0].key = current_->key();
      // Alone (a compacted database: one level, an empty memtable) it stays on top. The
      // sift also reloaded the key just stored, a store-forwarding stall per step in readseq.
      if (heap_.size() > 1) sift_down(0);
    } else if (!current_->status().ok()) {
      status_ = current_->status();
      heap_.clear();
    } else {
      heap_[0] = heap_.back();
      heap_.pop_back();
      if (!heap_.empty()) sift_down(0);
    }
    current_ = heap_.empty() ? nullptr : heap_[0].it;
  }

  // At most one entry per child, in place for the usual few children: a DB iterator is
  // made per range read (db_bench's seekrandom: one per seek), and this saves its heap a
  // heap allocation.
  class Heap {
   public:
    explicit Heap(size_t capacity) : capacity_(capacity) {
      if (capacity > kInlineChildren) {
        spill_.resize(capacity);
        items_ = spill_.data();
      }
    }
    Heap(const Heap&) = delete;
    Heap& operator=(const Heap&) = delete;
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    void clear() { size_ = 0; }
    void push_back(const Child& c) {
      WEASEL_ASSERT(size_ < capacity_);  // one entry per child, at most
      items_[size_++] = c;
    }
    void pop_back() { --size_; }
    Child& back() { return items_[size_ - 1]; }
    Child& operator[](size_t i) { return items_[i]; }
    const Child& operator[](size_t i) const { return items_[i]; }

   private:
    static constexpr size_t kInlineChildren = 8;
    Child inline_[kInlineChildren];
    std::vector<Child> spill_;
    Child* items_ = inline_;
    size_t capacity_;
    size_t size_ = 0;
  };

  std::vector<std::unique_ptr<InternalIterator>> children_;
  Heap heap_;  // the valid children; heap_[0].it is current_
  InternalIterator* current_ = nullptr;
  bool forward_ = true;
  Status status_;
};

}  // namespace

std::unique_ptr<InternalIterator> new_merging_iterator(
    std::vector<std::unique_ptr<InternalIterator>> children) {
  return std::make_unique<MergingIterator>(std::move(children));
}

}  // namespace weaseldb::storage
