#pragma once
// MemTableArena: the bump allocator behind a memtable's entries and skiplist nodes. Its
// blocks are mapped (mmap) and unmapped when the arena dies, so a flushed memtable gives its
// memory back to the operating system at once. With malloc'd blocks, glibc's dynamic mmap
// threshold moved blocks of up to 32 MiB onto the brk heap after the first memtable was
// freed, where fragmentation kept them resident: peak RSS grew by ~20 MB per memtable cycle
// under random writes (bench/README.md, "Storage engine vs RocksDB/LevelDB"). Blocks are
// 2 MiB, aligned to their size and advised MADV_HUGEPAGE, so that the kernel may back each
// with one huge page: skiplist searches and a flush's scan jump all over the arena, and with
// 4 KiB pages nearly every node they touched was a TLB miss as well as a cache miss. A
// refused hint leaves 4 KiB pages (the same memory, touched lazily either way).
//
// Contract
// - allocate() returns `bytes` bytes aligned to `alignment` (a power of two <= 4096), valid
//   until the arena is destroyed. Requests above a quarter of a block that do not fit the
//   current block get a mapping of their own, so a large value wastes no block tail. Out of memory throws std::bad_alloc.
// - bytes_used() counts the bytes handed out, alignment padding included.
// - Every block (not the large requests' own mappings) starts at a multiple of kBlockBytes.
// - Not thread-safe: one writer allocates (the memtable's); the memory it hands out may be
//   read from any thread.
//
// Ownership: owns every mapping it made.

#include <cstddef>
#include <vector>

namespace weaseldb::storage {

class MemTableArena {
 public:
  static constexpr size_t kBlockBytes = size_t{2} << 20;

  MemTableArena() = default;
  MemTableArena(const MemTableArena&) = delete;
  MemTableArena& operator=(const MemTableArena&) = delete;
  ~MemTableArena();

  void* allocate(size_t bytes, size_t alignment);
  size_t bytes_used() const { return bytes_used_; }

 private:
  struct Mapping {
    void* base;
    size_t bytes;
  };
  // A fresh mapping of `bytes` (rounded up to pages), recorded for the destructor.
  char* map(size_t bytes);

  std::vector<Mapping> mappings_;
  char* next_ = nullptr;  // the current block's free space
  size_t left_ = 0;
  size_t bytes_used_ = 0;
};

}  // namespace weaseldb::storage
