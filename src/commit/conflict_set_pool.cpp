// KeyPool: the slow paths (chunk lists, long keys) out of line.

#include "commit/conflict_set_pool.hpp"

#include <sys/mman.h>

#include <cstdint>

namespace weasel::cset {

// Full chunks are in no list and cannot be found again: by the tree's contract every slot is
// released before the pool is destroyed, so only open chunks (then empty) remain here.
KeyPool::~KeyPool() {
  for (Chunk*& head : open_) {
    while (head != nullptr) {
      Chunk* chunk = head;
      head = chunk->next;
      std::free(chunk);
    }
  }
}

KeyPool::Chunk* KeyPool::new_chunk(size_t size_class) {
  void* memory = std::aligned_alloc(kChunkBytes, kChunkBytes);
  if (memory == nullptr) throw std::bad_alloc();
  ++chunk_count_;
  Chunk* chunk = static_cast<Chunk*>(memory);
  chunk->prev = chunk->next = nullptr;
  chunk->free = nullptr;
  chunk->bump = kFirstSlot;
  chunk->live = 0;
  chunk->slot_bytes = static_cast<uint32_t>((size_class + 1) * kGrain);
  chunk->size_class = static_cast<uint32_t>(size_class);
  chunk->open = false;
  open(chunk);
  return chunk;
}

// Chunks with room go first in their class's list.
void KeyPool::open(Chunk* chunk) {
  Chunk*& head = open_[chunk->size_class];
  chunk->prev = nullptr;
  chunk->next = head;
  if (head != nullptr) head->prev = chunk;
  head = chunk;
  chunk->open = true;
}

void KeyPool::close(Chunk* chunk) {
  if (chunk->prev != nullptr) {
    chunk->prev->next = chunk->next;
  } else {
    open_[chunk->size_class] = chunk->next;
  }
  if (chunk->next != nullptr) chunk->next->prev = chunk->prev;
  chunk->open = false;
}

// An empty chunk goes back to the system unless it is the only one of its class with room.
void KeyPool::retire(Chunk* chunk) {
  if (open_[chunk->size_class] == chunk && chunk->next == nullptr) return;
  close(chunk);
  --chunk_count_;
  std::free(chunk);
}

uint8_t* KeyPool::allocate_large(size_t len) {
  void* p = std::malloc(len);
  if (p == nullptr) throw std::bad_alloc();
  large_bytes_ += len;
  live_bytes_ += len;
  return static_cast<uint8_t*>(p);
}

void KeyPool::release_large(uint8_t* p, size_t len) {
  WEASEL_ASSERT(large_bytes_ >= len);
  large_bytes_ -= len;
  live_bytes_ -= len;
  std::free(p);
}

// mmap aligns to pages only: map twice the size and unmap what lies outside the aligned
// chunk. Chunks are rare (one per thousand-odd nodes), so the extra calls do not matter.
void* map_chunk(bool huge_pages) {
  constexpr size_t kBytes = kHugeChunkBytes;
  void* p = ::mmap(nullptr, 2 * kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  uintptr_t start = reinterpret_cast<uintptr_t>(p);
  uintptr_t aligned = (start + kBytes - 1) & ~uintptr_t{kBytes - 1};
  if (aligned > start) ::munmap(p, aligned - start);
  uintptr_t tail = start + 2 * kBytes - (aligned + kBytes);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + kBytes), tail);
  void* chunk = reinterpret_cast<void*>(aligned);
  // Only a hint: without transparent huge pages (or with them off) it does nothing.
  if (huge_pages) ::madvise(chunk, kBytes, MADV_HUGEPAGE);
  return chunk;
}

void unmap_chunk(void* chunk) {
  int rc = ::munmap(chunk, kHugeChunkBytes);
  WEASEL_ASSERT(rc == 0);
}

}  // namespace weasel::cset
