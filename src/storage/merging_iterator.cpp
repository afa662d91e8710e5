#include "storage/merging_iterator.hpp"

#include "core/assert.hpp"
#include "storage/internal_key.hpp"

namespace weaseldb::storage {

namespace {

class MergingIterator final : public InternalIterator {
 public:
  explicit MergingIterator(std::vector<std::unique_ptr<InternalIterator>> children)
      : children_(std::move(children)) {}

  bool valid() const override { return current_ != nullptr; }
  std::string_view key() const override {
    WEASEL_ASSERT(valid());
    return current_->key();
  }
  std::string_view value() const override {
    WEASEL_ASSERT(valid());
    return current_->value();
  }
  Status status() const override { return status_; }

  void seek_to_first() override {
    for (auto& child : children_) child->seek_to_first();
    forward_ = true;
    find_smallest();
  }
  void seek_to_last() override {
    for (auto& child : children_) child->seek_to_last();
    forward_ = false;
    find_largest();
  }
  void seek(std::string_view target) override {
    for (auto& child : children_) child->seek(target);
    forward_ = true;
    find_smallest();
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
    }
    current_->next();
    find_smallest();
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
    }
    current_->prev();
    find_largest();
  }

 private:
  // Picks the child with the smallest (sign -1) or largest (sign 1) key. A child that stopped
  // on an error stops the merge: skipping it would silently hide its entries.
  void pick(int sign) {
    current_ = nullptr;
    status_ = {};
    for (auto& child : children_) {
      if (!child->valid()) {
        if (status_.ok()) status_ = child->status();
        continue;
      }
      if (current_ == nullptr || sign * compare_internal_keys(child->key(), current_->key()) > 0) {
        current_ = child.get();
      }
    }
    if (!status_.ok()) current_ = nullptr;
  }
  void find_smallest() { pick(-1); }
  void find_largest() { pick(1); }

  std::vector<std::unique_ptr<InternalIterator>> children_;
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
