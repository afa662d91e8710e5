#include "storage/block.hpp"

#include "core/assert.hpp"
#include "storage/coding.hpp"
#include "storage/internal_key.hpp"

namespace weaseldb::storage {

Result<std::shared_ptr<const Block>> Block::parse(std::string contents) {
  if (contents.size() < sizeof(uint32_t) || contents.size() > UINT32_MAX) {
    return Status::corruption("block: bad size " + std::to_string(contents.size()));
  }
  uint32_t count = decode_fixed32(contents.data() + contents.size() - sizeof(uint32_t));
  size_t max_count = (contents.size() - sizeof(uint32_t)) / sizeof(uint32_t);
  if (count == 0 || count > max_count) {
    return Status::corruption("block: bad restart count " + std::to_string(count));
  }
  auto restarts_offset =
      static_cast<uint32_t>(contents.size() - sizeof(uint32_t) * (size_t{count} + 1));
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t restart = decode_fixed32(contents.data() + restarts_offset + 4 * size_t{i});
    uint32_t previous =
        i == 0 ? 0 : decode_fixed32(contents.data() + restarts_offset + 4 * size_t{i - 1});
    bool in_order = i == 0 ? restart == 0 : restart > previous;
    if (!in_order || (restart >= restarts_offset && restarts_offset > 0)) {
      return Status::corruption("block: bad restart point " + std::to_string(i));
    }
  }
  if (restarts_offset == 0 && count != 1) return Status::corruption("block: bad empty block");
  return std::shared_ptr<const Block>(new Block(std::move(contents), restarts_offset, count));
}

class Block::Iter final : public InternalIterator {
 public:
  explicit Iter(std::shared_ptr<const Block> block)
      : block_(std::move(block)),
        data_(block_->contents_.data()),
        limit_(block_->restarts_offset_),
        restart_count_(block_->restart_count_),
        current_(limit_),
        next_(limit_) {}

  bool valid() const override { return current_ < limit_ && status_.ok(); }
  Status status() const override { return status_; }
  std::string_view key() const override {
    WEASEL_ASSERT(valid());
    return key_;
  }
  std::string_view value() const override {
    WEASEL_ASSERT(valid());
    return value_;
  }

  void seek_to_first() override {
    status_ = {};
    seek_to_restart(0);
    parse_next();
  }

  void seek_to_last() override {
    status_ = {};
    seek_to_restart(restart_count_ - 1);
    while (parse_next() && next_ < limit_) {
    }
  }

  void next() override {
    WEASEL_ASSERT(valid());
    parse_next();
  }

  void prev() override {
    WEASEL_ASSERT(valid());
    uint32_t original = current_;
    while (restart_point(restart_index_) >= original) {
      if (restart_index_ == 0) {  // already at the first entry
        current_ = limit_;
        return;
      }
      --restart_index_;
    }
    seek_to_restart(restart_index_);
    while (parse_next() && next_ < original) {
    }
  }

  void seek(std::string_view target) override {
    status_ = {};
    // The last restart point whose key is < target; entries before it are all smaller.
    uint32_t left = 0;
    uint32_t right = restart_count_ - 1;
    while (left < right) {
      uint32_t mid = left + (right - left + 1) / 2;
      std::string_view mid_key;
      if (!restart_key(mid, &mid_key)) return;
      if (compare_internal_keys(mid_key, target) < 0) {
        left = mid;
      } else {
        right = mid - 1;
      }
    }
    seek_to_restart(left);
    while (parse_next() && compare_internal_keys(key_, target) < 0) {
    }
  }

 private:
  uint32_t restart_point(uint32_t index) const {
    return decode_fixed32(data_ + limit_ + 4 * size_t{index});
  }

  void seek_to_restart(uint32_t index) {
    restart_index_ = index;
    key_.clear();
    current_ = limit_;
    next_ = restart_point(index);
  }

  void corrupt(const char* what) {
    status_ = Status::corruption(std::string("block: ") + what);
    current_ = next_ = limit_;
  }

  // Decodes the entry header at p: false (and corrupt) when it runs past the entries.
  bool decode_header(uint32_t p, uint32_t* shared, uint32_t* non_shared, uint32_t* value_bytes,
                     const char** key_delta) {
    const char* end = data_ + limit_;
    const char* q = decode_varint32(data_ + p, end, shared);
    if (q != nullptr) q = decode_varint32(q, end, non_shared);
    if (q != nullptr) q = decode_varint32(q, end, value_bytes);
    if (q == nullptr || uint64_t{*non_shared} + *value_bytes > static_cast<uint64_t>(end - q)) {
      corrupt("entry runs past the end of the block");
      return false;
    }
    *key_delta = q;
    return true;
  }

  bool parse_next() {
    current_ = next_;
    if (current_ >= limit_) {
      current_ = next_ = limit_;
      return false;
    }
    uint32_t shared = 0, non_shared = 0, value_bytes = 0;
    const char* delta = nullptr;
    if (!decode_header(current_, &shared, &non_shared, &value_bytes, &delta)) return false;
    if (shared > key_.size()) {
      corrupt("entry shares more than the previous key");
      return false;
    }
    key_.resize(shared);
    key_.append(delta, non_shared);
    if (key_.size() < kTrailerBytes) {
      corrupt("key shorter than an internal key");
      return false;
    }
    value_ = std::string_view(delta + non_shared, value_bytes);
    next_ = static_cast<uint32_t>(value_.data() + value_.size() - data_);
    while (restart_index_ + 1 < restart_count_ && restart_point(restart_index_ + 1) <= current_) {
      ++restart_index_;
    }
    return true;
  }

  // The whole key stored at restart point `index`.
  bool restart_key(uint32_t index, std::string_view* key) {
    uint32_t shared = 0, non_shared = 0, value_bytes = 0;
    const char* delta = nullptr;
    if (!decode_header(restart_point(index), &shared, &non_shared, &value_bytes, &delta)) {
      return false;
    }
    if (shared != 0 || non_shared < kTrailerBytes) {
      corrupt("bad key at a restart point");
      return false;
    }
    *key = std::string_view(delta, non_shared);
    return true;
  }

  std::shared_ptr<const Block> block_;
  const char* data_;
  uint32_t limit_;
  uint32_t restart_count_;
  uint32_t current_;  // offset of the current entry; limit_ when not valid
  uint32_t next_;     // offset of the entry after it
  uint32_t restart_index_ = 0;
  std::string key_;
  std::string_view value_;
  Status status_;
};

std::unique_ptr<InternalIterator> Block::new_iterator() const {
  // Blocks are only made by parse(), so a shared_ptr owns every one.
  return std::make_unique<Iter>(shared_from_this());
}

}  // namespace weaseldb::storage
