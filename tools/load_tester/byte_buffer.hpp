#pragma once
// ByteBuffer: a growable byte queue for one connection's reads or writes.
//
// Contract: bytes are appended at the back and consumed from the front. The buffer owns one
// heap block that grows geometrically and never shrinks, so once a connection has seen its
// largest message, steady-state use allocates nothing. Consumed space at the front is reused
// by compact(), which the owner calls when it needs room. Not thread-safe: one owner.

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

#include "core/assert.hpp"

namespace weasel::load {

class ByteBuffer {
 public:
  explicit ByteBuffer(size_t initial_capacity = 4096)
      : data_(std::make_unique<char[]>(initial_capacity)), capacity_(initial_capacity) {
    WEASEL_ASSERT(initial_capacity > 0);
  }

  ByteBuffer(ByteBuffer&&) noexcept = default;
  ByteBuffer& operator=(ByteBuffer&&) noexcept = default;

  const char* data() const { return data_.get() + begin_; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  size_t capacity() const { return capacity_; }
  std::string_view view() const { return {data(), size()}; }

  void append(std::string_view bytes) {
    char* dst = reserve_back(bytes.size());
    if (!bytes.empty()) std::memcpy(dst, bytes.data(), bytes.size());
    end_ += bytes.size();
  }

  // Returns room for at least `min_bytes` at the back; the caller writes into it and then
  // calls commit() with how much it wrote. The room extends to back_room() bytes.
  char* reserve_back(size_t min_bytes) {
    if (capacity_ - end_ < min_bytes) make_room(min_bytes);
    return data_.get() + end_;
  }
  size_t back_room() const { return capacity_ - end_; }
  void commit(size_t bytes) {
    WEASEL_ASSERT(bytes <= capacity_ - end_);
    end_ += bytes;
  }

  void consume(size_t bytes) {
    WEASEL_ASSERT(bytes <= size());
    begin_ += bytes;
    if (begin_ == end_) begin_ = end_ = 0;  // the cheap, common case: fully drained
  }

  void clear() { begin_ = end_ = 0; }

 private:
  void make_room(size_t min_bytes) {
    const size_t live = size();
    if (begin_ > 0 && capacity_ - live >= min_bytes && live <= capacity_ / 2) {
      std::memmove(data_.get(), data(), live);  // compacting is enough
    } else {
      size_t new_capacity = capacity_;
      while (new_capacity - live < min_bytes) new_capacity *= 2;
      auto grown = std::make_unique<char[]>(new_capacity);
      if (live > 0) std::memcpy(grown.get(), data(), live);
      data_ = std::move(grown);
      capacity_ = new_capacity;
    }
    begin_ = 0;
    end_ = live;
  }

  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace weasel::load
