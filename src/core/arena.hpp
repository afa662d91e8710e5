#pragma once
// Arena: a bump allocator for objects that die together (a request's parse results and its
// response, a memtable). Allocation is a pointer bump; nothing is freed one by one.
//
// Contract
// - Memory from allocate()/make()/allocate_array()/copy() stays valid until reset(), until the
//   arena is destroyed, or until the arena it was moved into is reset or destroyed.
// - Destructors never run: make<T> only accepts trivially destructible types. Containers over
//   ArenaAllocator may hold anything, but their elements' memory is only reclaimed by reset().
// - Blocks grow geometrically: the first block is max(first_block_bytes, what the request
//   needs); each later block is max(2 * previous block size, what the request needs including
//   alignment padding). Block sizes include the 16-byte intrusive header at their start.
// - reset() frees every block but the first, which is kept for reuse, so an arena reset per
//   request does no malloc at all once its first block fits the typical request.
// - Alignments must be powers of two up to kMaxAlignment; single requests are limited to
//   kMaxAllocationBytes. Violations are bugs and abort (WEASEL_ASSERT). A failed malloc throws
//   std::bad_alloc, like operator new.
// - Not thread-safe: an arena has one owner at a time (a connection, a memtable writer).
//
// Ownership: the Arena owns its blocks (malloc'd). Moving transfers them and leaves the source
// empty and reusable. ArenaAllocator holds a plain Arena* and does not own anything: an arena
// must outlive every container using it and must not be moved while containers refer to it.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/assert.hpp"

namespace weasel {

class Arena {
 public:
  static constexpr size_t kMaxAlignment = size_t{1} << 16;
  static constexpr size_t kMaxAllocationBytes = size_t{1} << 40;

  explicit Arena(size_t first_block_bytes = 4096);
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&& other) noexcept;
  Arena& operator=(Arena&& other) noexcept;
  ~Arena();

  // `bytes` may be 0 (a valid, possibly shared, pointer is returned).
  void* allocate(size_t bytes, size_t alignment = alignof(std::max_align_t));

  template <class T, class... Args>
  T* make(Args&&... args);

  // Uninitialized storage for n objects of type T (the caller constructs them).
  template <class T>
  T* allocate_array(size_t n);

  // Copies the bytes of s into the arena. An empty s yields an empty view without allocating.
  std::string_view copy(std::string_view s);

  void reset();

  // Sum of the `bytes` handed out since construction or the last reset (padding excluded).
  size_t bytes_used() const { return used_bytes_; }
  // Sum of the sizes of the blocks held, headers included.
  size_t bytes_reserved() const { return reserved_bytes_; }
  size_t block_count() const { return block_count_; }

 private:
  struct Block {
    Block* prev;  // the block allocated before this one; nullptr for the first block
    size_t size_bytes;
  };
  static_assert(sizeof(Block) % alignof(std::max_align_t) == 0,
                "block data must start max_align_t-aligned");

  // Cursor past the limit: the first allocation, even of 0 bytes, takes the slow path.
  static constexpr uintptr_t kNoBlockCursor = 1;

  static bool is_valid_alignment(size_t alignment) {
    return alignment != 0 && (alignment & (alignment - 1)) == 0 && alignment <= kMaxAlignment;
  }

  void* allocate_slow(size_t bytes, size_t alignment);
  void free_blocks();
  void take(Arena& other);

  Block* head_ = nullptr;  // newest block, where allocation happens
  uintptr_t cursor_ = kNoBlockCursor;
  uintptr_t limit_ = 0;
  size_t first_block_bytes_;
  size_t used_bytes_ = 0;
  size_t reserved_bytes_ = 0;
  size_t block_count_ = 0;
};

inline void* Arena::allocate(size_t bytes, size_t alignment) {
  WEASEL_ASSERT(bytes <= kMaxAllocationBytes);
  WEASEL_ASSERT(is_valid_alignment(alignment));
  // No overflow: cursor_ is a user-space address and both addends are bounded above.
  uintptr_t start = (cursor_ + alignment - 1) & ~static_cast<uintptr_t>(alignment - 1);
  if (start + bytes > limit_) [[unlikely]] {
    return allocate_slow(bytes, alignment);
  }
  cursor_ = start + bytes;
  used_bytes_ += bytes;
  return reinterpret_cast<void*>(start);
}

template <class T, class... Args>
T* Arena::make(Args&&... args) {
  static_assert(std::is_trivially_destructible_v<T>,
                "the arena never runs destructors; use a trivially destructible type");
  void* p = allocate(sizeof(T), alignof(T));
  // Braces for aggregates: clang 14 lacks parenthesized aggregate initialization.
  if constexpr (std::is_constructible_v<T, Args...>) {
    return ::new (p) T(std::forward<Args>(args)...);
  } else {
    return ::new (p) T{std::forward<Args>(args)...};
  }
}

template <class T>
T* Arena::allocate_array(size_t n) {
  static_assert(alignof(T) <= kMaxAlignment, "alignment beyond what the arena supports");
  WEASEL_ASSERT(n <= kMaxAllocationBytes / sizeof(T));
  return static_cast<T*>(allocate(n * sizeof(T), alignof(T)));
}

inline std::string_view Arena::copy(std::string_view s) {
  if (s.empty()) return {};
  char* p = static_cast<char*>(allocate(s.size(), 1));
  std::memcpy(p, s.data(), s.size());
  return {p, s.size()};
}

// STL allocator over an Arena. deallocate() is a no-op: memory comes back on Arena::reset().
// Two allocators are equal when they use the same arena. Move assignment and swap carry the
// arena along (O(1), no element copies); copy assignment keeps the destination's arena, so a
// copy lives where its container lives.
template <class T>
class ArenaAllocator {
 public:
  using value_type = T;
  using propagate_on_container_copy_assignment = std::false_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using is_always_equal = std::false_type;

  // Implicit on purpose, like std::pmr::polymorphic_allocator: `ArenaVector<int> v(arena);`.
  ArenaAllocator(Arena& arena) noexcept : arena_(&arena) {}  // NOLINT(google-explicit-constructor)
  template <class U>
  ArenaAllocator(const ArenaAllocator<U>& other) noexcept  // NOLINT(google-explicit-constructor)
      : arena_(&other.arena()) {}

  T* allocate(size_t n) { return arena_->allocate_array<T>(n); }
  void deallocate(T*, size_t) noexcept {}
  // Lets containers throw std::length_error instead of tripping the arena's size assertion.
  size_t max_size() const noexcept { return Arena::kMaxAllocationBytes / sizeof(T); }

  Arena& arena() const noexcept { return *arena_; }

 private:
  Arena* arena_;
};

template <class T, class U>
bool operator==(const ArenaAllocator<T>& a, const ArenaAllocator<U>& b) noexcept {
  return &a.arena() == &b.arena();
}

template <class T>
using ArenaVector = std::vector<T, ArenaAllocator<T>>;

}  // namespace weasel
