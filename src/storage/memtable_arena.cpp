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
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) throw std::bad_alloc();
  mappings_.push_back({base, bytes});
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
