#pragma once
// Memory for the conflict set's B+tree (internal to src/commit/conflict_set_*): key bytes in
// size classes and recycled nodes, so that a write costs a free-list pop, not a malloc.
//
// Contract
// - KeyPool::allocate(len) returns len bytes (len > 0) that stay valid until release(p, len)
//   with the same len. Lengths up to kPooledMax come from slabs: 64 KiB chunks, each serving
//   one 16-byte size class, with their own free list. A chunk goes back to the system as soon
//   as its last slot is released (one empty chunk per class is kept against thrashing), so
//   memory follows the number of keys. Longer keys use malloc/free directly.
// - NodeCache keeps up to kMaxCached freed nodes of one type for reuse and frees the rest.
// - Both throw std::bad_alloc when the system has no memory. Neither is thread-safe: each
//   belongs to one VersionTree, which owns everything they hand out.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <vector>

#include "core/assert.hpp"

namespace weasel::cset {

class KeyPool {
 public:
  static constexpr size_t kGrain = 16;
  static constexpr size_t kPooledMax = 256;
  static constexpr size_t kClasses = kPooledMax / kGrain;
  static constexpr size_t kChunkBytes = 64 * 1024;  // also the chunks' alignment

  KeyPool() = default;
  ~KeyPool();
  KeyPool(const KeyPool&) = delete;
  KeyPool& operator=(const KeyPool&) = delete;

  uint8_t* allocate(size_t len) {
    WEASEL_ASSERT(len > 0);
    if (len > kPooledMax) return allocate_large(len);
    size_t size_class = (len - 1) / kGrain;
    Chunk* chunk = open_[size_class];
    if (chunk == nullptr) chunk = new_chunk(size_class);
    uint8_t* p;
    if (chunk->free != nullptr) {
      p = reinterpret_cast<uint8_t*>(chunk->free);
      chunk->free = chunk->free->next;
    } else {
      p = reinterpret_cast<uint8_t*>(chunk) + chunk->bump;
      chunk->bump += chunk->slot_bytes;
    }
    ++chunk->live;
    if (chunk->free == nullptr && chunk->bump + chunk->slot_bytes > kChunkBytes) close(chunk);
    live_bytes_ += len;
    return p;
  }

  void release(uint8_t* p, size_t len) {
    WEASEL_ASSERT(live_bytes_ >= len);
    if (len > kPooledMax) return release_large(p, len);
    live_bytes_ -= len;
    Chunk* chunk = reinterpret_cast<Chunk*>(reinterpret_cast<uintptr_t>(p) & ~(kChunkBytes - 1));
    WEASEL_ASSERT(chunk->live > 0 && chunk->size_class == (len - 1) / kGrain);
    Slot* slot = reinterpret_cast<Slot*>(p);
    slot->next = chunk->free;
    chunk->free = slot;
    --chunk->live;
    if (!chunk->open) open(chunk);
    if (chunk->live == 0) retire(chunk);
  }

  // Bytes of keys handed out and not released (what the tree's keys take).
  size_t live_bytes() const { return live_bytes_; }
  // Bytes taken from the system (what the process pays).
  size_t reserved_bytes() const { return chunk_count_ * kChunkBytes + large_bytes_; }

 private:
  struct Slot {
    Slot* next;
  };
  // At the start of every chunk; slots follow it.
  struct Chunk {
    Chunk* prev;  // in open_[size_class], the chunks with room
    Chunk* next;
    Slot* free;   // released slots
    uint32_t bump;  // offset of the first slot never handed out
    uint32_t live;  // slots handed out
    uint32_t slot_bytes;
    uint32_t size_class;
    bool open;
  };
  static constexpr uint32_t kFirstSlot = 64;
  static_assert(sizeof(Chunk) <= kFirstSlot);

  Chunk* new_chunk(size_t size_class);
  void open(Chunk* chunk);
  void close(Chunk* chunk);
  void retire(Chunk* chunk);
  uint8_t* allocate_large(size_t len);
  void release_large(uint8_t* p, size_t len);

  Chunk* open_[kClasses] = {};
  size_t chunk_count_ = 0;
  size_t large_bytes_ = 0;
  size_t live_bytes_ = 0;
};

// Freed nodes of type T (trivially destructible, 64-byte aligned) kept for reuse.
template <class T>
class NodeCache {
 public:
  static constexpr size_t kMaxCached = 64;

  NodeCache() = default;
  ~NodeCache() {
    for (void* p : cached_) ::operator delete(p, std::align_val_t{alignof(T)});
  }
  NodeCache(const NodeCache&) = delete;
  NodeCache& operator=(const NodeCache&) = delete;

  // A default-initialized T.
  T* make() {
    void* p;
    if (cached_.empty()) {
      p = ::operator new(sizeof(T), std::align_val_t{alignof(T)});
    } else {
      p = cached_.back();
      cached_.pop_back();
    }
    return new (p) T;
  }

  void recycle(T* node) {
    static_assert(std::is_trivially_destructible_v<T>);
    if (cached_.size() < kMaxCached) {
      cached_.push_back(node);
    } else {
      ::operator delete(node, std::align_val_t{alignof(T)});
    }
  }

  size_t cached_bytes() const { return cached_.size() * sizeof(T); }

 private:
  std::vector<void*> cached_;
};

}  // namespace weasel::cset
