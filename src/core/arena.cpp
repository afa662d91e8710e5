// Slow paths of Arena (block allocation, reset, ownership transfer); see arena.hpp.

#include "core/arena.hpp"

#include <algorithm>
#include <cstdlib>

namespace weasel {

Arena::Arena(size_t first_block_bytes) : first_block_bytes_(first_block_bytes) {
  WEASEL_ASSERT(first_block_bytes <= kMaxAllocationBytes);
}

Arena::Arena(Arena&& other) noexcept : first_block_bytes_(other.first_block_bytes_) {
  take(other);
}

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this != &other) {
    free_blocks();
    first_block_bytes_ = other.first_block_bytes_;
    take(other);
  }
  return *this;
}

Arena::~Arena() {
  free_blocks();
}

void Arena::take(Arena& other) {
  head_ = std::exchange(other.head_, nullptr);
  cursor_ = std::exchange(other.cursor_, kNoBlockCursor);
  limit_ = std::exchange(other.limit_, 0);
  used_bytes_ = std::exchange(other.used_bytes_, 0);
  reserved_bytes_ = std::exchange(other.reserved_bytes_, 0);
  block_count_ = std::exchange(other.block_count_, 0);
}

void Arena::free_blocks() {
  while (head_ != nullptr) {
    Block* prev = head_->prev;
    std::free(head_);
    head_ = prev;
  }
  cursor_ = kNoBlockCursor;
  limit_ = 0;
  used_bytes_ = 0;
  reserved_bytes_ = 0;
  block_count_ = 0;
}

void* Arena::allocate_slow(size_t bytes, size_t alignment) {
  // Block data starts max_align_t-aligned, so only stricter alignments need padding.
  size_t padding =
      alignment > alignof(std::max_align_t) ? alignment - alignof(std::max_align_t) : 0;
  // Bounded by the asserts in allocate(): no overflow.
  size_t needed = sizeof(Block) + padding + bytes;
  size_t size = needed;
  if (head_ == nullptr) {
    size = std::max(first_block_bytes_, needed);
  } else {
    WEASEL_ASSERT(head_->size_bytes <= std::numeric_limits<size_t>::max() / 2);
    size = std::max(2 * head_->size_bytes, needed);
  }
  void* memory = std::malloc(size);
  if (memory == nullptr && size > needed) {
    // The geometric size may be out of reach while the request itself still fits.
    size = needed;
    memory = std::malloc(size);
  }
  if (memory == nullptr) throw std::bad_alloc();
  WEASEL_ASSERT(reinterpret_cast<uintptr_t>(memory) % alignof(std::max_align_t) == 0);

  Block* block = static_cast<Block*>(memory);
  block->prev = head_;
  block->size_bytes = size;
  head_ = block;
  cursor_ = reinterpret_cast<uintptr_t>(block) + sizeof(Block);
  limit_ = reinterpret_cast<uintptr_t>(block) + size;
  reserved_bytes_ += size;
  block_count_ += 1;

  void* result = allocate(bytes, alignment);
  WEASEL_ASSERT(reinterpret_cast<uintptr_t>(result) + bytes <= limit_);
  return result;
}

void Arena::reset() {
  if (head_ == nullptr) return;
  Block* first = head_;
  while (first->prev != nullptr) {
    Block* prev = first->prev;
    std::free(first);
    first = prev;
  }
  head_ = first;
  cursor_ = reinterpret_cast<uintptr_t>(first) + sizeof(Block);
  limit_ = reinterpret_cast<uintptr_t>(first) + first->size_bytes;
  used_bytes_ = 0;
  reserved_bytes_ = first->size_bytes;
  block_count_ = 1;
}

}  // namespace weasel
