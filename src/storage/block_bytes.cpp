#include "storage/block_bytes.hpp"

#include <array>

namespace weaseldb::storage {

namespace {

struct Kept {
  char* data;
  size_t capacity;
};

// Trivially destructible, so it stays usable while the thread's other thread_local objects
// are destroyed (one of them may free a block): the Closer below empties it at thread exit
// and marks it closed.
struct Pool {
  std::array<Kept, BlockBytes::kPoolBuffers> kept;
  size_t count;
  bool closed;
};
thread_local Pool t_pool{};

void free_kept() {
  for (size_t i = 0; i < t_pool.count; ++i) delete[] t_pool.kept[i].data;
  t_pool.count = 0;
}

struct Closer {
  Closer() = default;
  Closer(const Closer&) = delete;
  Closer& operator=(const Closer&) = delete;
  ~Closer() {
    free_kept();
    t_pool.closed = true;
  }
};
thread_local Closer t_closer;

}  // namespace

BlockBytes BlockBytes::allocate(size_t n) {
  Pool& pool = t_pool;
  for (size_t i = 0; i < pool.count; ++i) {
    Kept k = pool.kept[i];
    if (k.capacity >= n && k.capacity - n <= n / 16) {
      pool.kept[i] = pool.kept[--pool.count];
      return BlockBytes(k.data, n, k.capacity);
    }
  }
  return BlockBytes(new char[n], n, n);
}

size_t BlockBytes::kept_on_this_thread() { return t_pool.count; }

void BlockBytes::free_kept_on_this_thread() { free_kept(); }

void BlockBytes::release() {
  if (data_ == nullptr) return;
  Pool& pool = t_pool;
  if (kPooling && !pool.closed && capacity_ <= kMaxPooledBytes) {
    (void)&t_closer;  // constructs (and registers) the thread's Closer on first use
    if (pool.count == kPoolBuffers) {
      // Full: a kept buffer makes room, so the pool follows the sizes in use.
      delete[] pool.kept[0].data;
      pool.kept[0] = pool.kept[--pool.count];
    }
    pool.kept[pool.count++] = Kept{data_, capacity_};
  } else {
    delete[] data_;
  }
  data_ = nullptr;
}

}  // namespace weaseldb::storage
