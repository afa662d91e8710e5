#include "storage/level_iterator.hpp"

#include <algorithm>

#include "core/assert.hpp"

namespace weaseldb::storage {

namespace {

// Whether the file's range ends at or after user_key (a tombstone sentinel end is exclusive).
bool ends_at_or_after(const LiveTable& file, std::string_view user_key) {
  ParsedInternalKey largest;
  if (!parse_internal_key(file.meta.largest, &largest)) return true;  // be conservative
  int c = compare_user_keys(largest.user_key, user_key);
  if (c != 0) return c > 0;
  return largest.type != ValueType::kRangeDeletion;
}

class LevelIterator final : public InternalIterator {
 public:
  LevelIterator(std::shared_ptr<const void> owner, const std::vector<LiveTable>* files,
                const BlockReadOptions& options)
      : owner_(std::move(owner)), files_(*files), options_(options) {}

  bool valid() const override { return it_ != nullptr && it_->valid(); }
  std::string_view key() const override { return it_->key(); }
  std::string_view value() const override { return it_->value(); }
  Status status() const override { return it_ != nullptr ? it_->status() : Status(); }

  void seek_to_first() override {
    if (open(0)) it_->seek_to_first();
    skip_forward();
  }
  void seek_to_last() override {
    if (open(files_.size() - 1)) it_->seek_to_last();
    skip_backward();
  }
  void seek(std::string_view target) override {
    // The first file whose largest key is >= target.
    auto f = std::partition_point(files_.begin(), files_.end(), [&](const LiveTable& t) {
      return compare_internal_keys(t.meta.largest, target) < 0;
    });
    if (open(static_cast<size_t>(f - files_.begin()))) it_->seek(target);
    skip_forward();
  }
  // The table iterator asserts its own validity: checking it here too would cost a second
  // virtual valid() per step of every scan.
  void next() override {
    WEASEL_ASSERT(it_ != nullptr);
    it_->next();
    skip_forward();
  }
  void prev() override {
    WEASEL_ASSERT(it_ != nullptr);
    it_->prev();
    skip_backward();
  }

 private:
  bool open(size_t index) {
    index_ = index;
    it_.reset();
    if (index >= files_.size()) return false;
    it_ = files_[index].table->new_iterator(options_);
    return true;
  }
  void skip_forward() {
    while (it_ != nullptr && !it_->valid() && it_->status().ok()) {
      if (open(index_ + 1)) it_->seek_to_first();
    }
  }
  void skip_backward() {
    while (it_ != nullptr && !it_->valid() && it_->status().ok()) {
      if (index_ == 0) {
        it_.reset();
      } else if (open(index_ - 1)) {
        it_->seek_to_last();
      }
    }
  }

  std::shared_ptr<const void> owner_;  // keeps files_ alive
  const std::vector<LiveTable>& files_;
  BlockReadOptions options_;
  size_t index_ = 0;
  std::unique_ptr<InternalIterator> it_;  // null when past either end
};

}  // namespace

std::unique_ptr<InternalIterator> new_level_iterator(std::shared_ptr<const void> owner,
                                                     const std::vector<LiveTable>* files,
                                                     const BlockReadOptions& options) {
  return std::make_unique<LevelIterator>(std::move(owner), files, options);
}

const LiveTable* find_level_file(const std::vector<LiveTable>& files, std::string_view user_key) {
  auto f = std::partition_point(files.begin(), files.end(), [&](const LiveTable& t) {
    return !ends_at_or_after(t, user_key);
  });
  if (f == files.end()) return nullptr;
  ParsedInternalKey smallest;
  if (parse_internal_key(f->meta.smallest, &smallest) &&
      compare_user_keys(smallest.user_key, user_key) > 0) {
    return nullptr;
  }
  return &*f;
}

}  // namespace weaseldb::storage
