#pragma once
// Memory for the conflict set's radix tree (internal to src/commit/conflict_set_*): key bytes in
// size classes and nodes in huge-page chunks, so that a write costs a free-list pop, not a
// malloc, and a walk over a large tree does not miss the TLB at every node.
//
// Contract
// - KeyPool::allocate(len) returns len bytes (len > 0) that stay valid until release(p, len)
//   with the same len. Lengths up to kPooledMax come from slabs: 64 KiB chunks, each serving
//   one 16-byte size class, with their own free list. A chunk goes back to the system as soon
//   as its last slot is released (one empty chunk per class is kept against thrashing), so
//   memory follows the number of keys. Longer keys use malloc/free directly.
// - NodeSlab<T> hands out nodes of one type from 2 MiB chunks aligned to their size, which
//   the kernel may back with one huge page each (madvise(MADV_HUGEPAGE), when asked): a
//   lookup in a tree of a million entries then costs no page walk per node. Freed nodes go
//   back to their chunk; a chunk goes back to the system when its last node is freed (one
//   empty chunk is kept against thrashing). Memory therefore follows the number of nodes
//   when the tree shrinks as a whole (the window moving on), but a chunk with a single live
//   node stays, so a tree that shrinks by a large factor and stays small may keep more.
// - Both throw std::bad_alloc when the system has no memory. Neither is thread-safe: each
//   belongs to one ArtTree, which owns everything they hand out.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>

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
    Slot* free;     // released slots
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

// Whole chunks of kHugeChunkBytes, aligned to their size (conflict_set_pool.cpp).
inline constexpr size_t kHugeChunkBytes = size_t{2} << 20;
void* map_chunk(bool huge_pages);
void unmap_chunk(void* chunk);

// Nodes of type T (trivially destructible, 64-byte aligned) in chunks of kHugeChunkBytes.
template <class T>
class NodeSlab {
 public:
  static constexpr size_t kChunkBytes = kHugeChunkBytes;

  explicit NodeSlab(bool huge_pages) : huge_pages_(huge_pages) {}
  // Every node must have been recycled by now (asserted: a leak is a bug of the tree).
  ~NodeSlab() {
    while (open_ != nullptr) {
      Chunk* chunk = open_;
      WEASEL_ASSERT(chunk->live == 0);
      open_ = chunk->next;
      unmap_chunk(chunk);
      --chunk_count_;
    }
    WEASEL_ASSERT(chunk_count_ == 0);
  }
  NodeSlab(const NodeSlab&) = delete;
  NodeSlab& operator=(const NodeSlab&) = delete;

  // A default-initialized T.
  T* make() {
    Chunk* chunk = open_ != nullptr ? open_ : new_chunk();
    void* p;
    if (chunk->free != nullptr) {
      p = chunk->free;
      chunk->free = chunk->free->next;
    } else {
      p = reinterpret_cast<char*>(chunk) + chunk->bump;
      chunk->bump += kSlotBytes;
    }
    ++chunk->live;
    if (chunk->free == nullptr && chunk->bump + kSlotBytes > kChunkBytes) close(chunk);
    return new (p) T;
  }

  void recycle(T* node) {
    static_assert(std::is_trivially_destructible_v<T>);
    Chunk* chunk = chunk_of(node);
    WEASEL_ASSERT(chunk->live > 0);
    Slot* slot = reinterpret_cast<Slot*>(node);
    slot->next = chunk->free;
    chunk->free = slot;
    --chunk->live;
    if (!chunk->open) open(chunk);
    if (chunk->live == 0 && !(open_ == chunk && chunk->next == nullptr)) {
      close(chunk);
      unmap_chunk(chunk);
      --chunk_count_;
    }
  }

  size_t reserved_bytes() const { return chunk_count_ * kChunkBytes; }

 private:
  struct Slot {
    Slot* next;
  };
  // At the start of every chunk; slots follow it.
  struct Chunk {
    Chunk* prev;  // in open_, the chunks with room
    Chunk* next;
    Slot* free;     // recycled slots
    uint32_t bump;  // offset of the first slot never handed out
    uint32_t live;  // slots handed out
    bool open;
  };
  static constexpr uint32_t kSlotBytes = (sizeof(T) + alignof(T) - 1) / alignof(T) * alignof(T);
  static constexpr uint32_t kFirstSlot = (sizeof(Chunk) + alignof(T) - 1) / alignof(T) * alignof(T);
  static_assert(alignof(T) >= alignof(Chunk) && sizeof(T) >= sizeof(Slot));
  static_assert(kFirstSlot + 16 * kSlotBytes <= kChunkBytes);

  static Chunk* chunk_of(T* node) {
    return reinterpret_cast<Chunk*>(reinterpret_cast<uintptr_t>(node) & ~(kChunkBytes - 1));
  }
  Chunk* new_chunk() {
    Chunk* chunk = static_cast<Chunk*>(map_chunk(huge_pages_));
    ++chunk_count_;
    chunk->prev = chunk->next = nullptr;
    chunk->free = nullptr;
    chunk->bump = kFirstSlot;
    chunk->live = 0;
    chunk->open = false;
    open(chunk);
    return chunk;
  }
  // Chunks with room go first in the list.
  void open(Chunk* chunk) {
    chunk->prev = nullptr;
    chunk->next = open_;
    if (open_ != nullptr) open_->prev = chunk;
    open_ = chunk;
    chunk->open = true;
  }
  void close(Chunk* chunk) {
    if (chunk->prev != nullptr) {
      chunk->prev->next = chunk->next;
    } else {
      open_ = chunk->next;
    }
    if (chunk->next != nullptr) chunk->next->prev = chunk->prev;
    chunk->open = false;
  }

  Chunk* open_ = nullptr;
  size_t chunk_count_ = 0;
  bool huge_pages_;
};

}  // namespace weasel::cset
