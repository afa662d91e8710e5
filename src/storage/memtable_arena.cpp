#include "storage/memtable_arena.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

#include "core/assert.hpp"

namespace weaseldb::storage {

MemTableArena::~MemTableArena() {
  for (const Mapping& m : mappings_) ::munmap(m.base, m.bytes);
}

char* MemTableArena::map(size_t bytes) {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  bytes = (bytes + page - 1) / page * page;
  mappings_.reserve(mappings_.size() + 1);  // so that recording cannot throw after the mmap
  if (bytes != kBlockBytes) {
    void* base =
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    mappings_.push_back({base, bytes});
    return static_cast<char*>(base);
  }
  // A block is aligned to its size, so that the kernel can back it with one huge page: a
  // skiplist search or a flush's scan touches nodes all over the arena, and with 4 KiB pages
  // nearly every node visited was a TLB miss on top of its cache miss.
  void* raw = ::mmap(nullptr, 2 * kBlockBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  auto start = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (start + kBlockBytes - 1) & ~(uintptr_t{kBlockBytes} - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  size_t tail = start + 2 * kBlockBytes - (aligned + kBlockBytes);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + kBlockBytes), tail);
  void* base = reinterpret_cast<void*>(aligned);
  (void)::madvise(base, kBlockBytes, MADV_HUGEPAGE);  // a hint: 4 KiB pages if refused
  mappings_.push_back({base, kBlockBytes});
  return static_cast<char*>(base);
}

void* MemTableArena::allocate(size_t bytes, size_t alignment) {
  WEASEL_ASSERT(alignment > 0 && (alignment & (alignment - 1)) == 0 && alignment <= 4096);
  size_t padding = (alignment - reinterpret_cast<uintptr_t>(next_) % alignment) % alignment;
  if (next_ != nullptr && padding + bytes <= left_) {
    char* p = next_ + padding;
    next_ = p + bytes;
    left_ -= padding + bytes;
    bytes_used_ += padding + bytes;
    return p;
  }
  if (bytes > kBlockBytes / 4) {
    // Its own mapping (page aligned): the current block keeps its free space.
    bytes_used_ += bytes;
    return map(bytes);
  }
  char* block = map(kBlockBytes);  // page aligned: no padding needed
  next_ = block + bytes;
  left_ = kBlockBytes - bytes;
  bytes_used_ += bytes;
  return block;
}

}  // namespace weaseldb::storage
