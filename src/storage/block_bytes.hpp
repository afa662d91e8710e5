#pragma once
// BlockBytes: the heap buffer of one SSTable block's bytes, read and decompressed straight
// into (never zero-filled), and the per-thread pool those buffers come from.
//
// Why a pool: a read that misses the block cache allocates the uncompressed block (~16 KiB),
// and in a full cache the insert evicts (frees) another. Buffers of that size take glibc's
// slow path: bins, and coalescing with neighbours whose headers are cold because the evicted
// block was. perf put malloc and free at 5-7% of readrandom and seekrandom. A freed buffer is
// kept by the freeing thread, and that thread's next allocation of about its size takes it:
// a miss's eviction frees what its next miss reuses.
//
// Contract
// - allocate(n) gives a buffer of size() == n and capacity() >= n. It may be a kept buffer of
//   up to n + n/16 bytes (the block cache charges a block its size(), so the slack it does not
//   see is bounded).
// - Each thread keeps at most kPoolBuffers buffers of at most kMaxPooledBytes each; a buffer
//   freed on a thread whose pool is full makes room by freeing a kept one; one freed while the
//   thread exits goes back to the heap. Under AddressSanitizer nothing is kept, so a use after
//   free is still reported.
// - set_size(n) sets size() to any n <= capacity() (the bytes stay as they are).
//
// Ownership: move-only; the buffer is released (to the pool or the heap) on destruction.

#include <cstddef>
#include <string_view>
#include <utility>

#include "core/assert.hpp"

namespace weaseldb::storage {

class BlockBytes {
 public:
  static constexpr size_t kPoolBuffers = 4;
  static constexpr size_t kMaxPooledBytes = size_t{256} << 10;
#if defined(__SANITIZE_ADDRESS__)
  static constexpr bool kPooling = false;
#else
  static constexpr bool kPooling = true;
#endif

  BlockBytes() = default;
  static BlockBytes allocate(size_t n);
  // How many buffers this thread keeps now, and freeing them (tests).
  static size_t kept_on_this_thread();
  static void free_kept_on_this_thread();

  BlockBytes(BlockBytes&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  BlockBytes& operator=(BlockBytes&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
    }
    return *this;
  }
  BlockBytes(const BlockBytes&) = delete;
  BlockBytes& operator=(const BlockBytes&) = delete;
  ~BlockBytes() { release(); }

  char* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  std::string_view view() const { return {data_, size_}; }
  void set_size(size_t n) {
    WEASEL_ASSERT(n <= capacity_);
    size_ = n;
  }

 private:
  BlockBytes(char* data, size_t size, size_t capacity)
      : data_(data), size_(size), capacity_(capacity) {}
  void release();

  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace weaseldb::storage
