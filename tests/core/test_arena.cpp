// Unit tests for weasel::Arena and ArenaAllocator (src/core/arena.hpp).

#include "core/arena.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

namespace weasel {
namespace {

bool is_aligned(const void* p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

// The header size is an implementation detail; derive it from the first block instead.
size_t header_bytes() {
  Arena arena(0);
  arena.allocate(1, 1);
  return arena.bytes_reserved() - 1;
}

TEST_CASE("arena: construction allocates nothing") {
  Arena arena;
  CHECK(arena.block_count() == 0);
  CHECK(arena.bytes_reserved() == 0);
  CHECK(arena.bytes_used() == 0);
  arena.reset();  // resetting an empty arena is harmless
  CHECK(arena.block_count() == 0);
}

TEST_CASE("arena: alignment holds for many sizes and alignments") {
  Arena arena(256);
  for (size_t alignment = 1; alignment <= 4096; alignment *= 2) {
    for (size_t bytes : {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 63, 100, 255, 1000, 5000}) {
      auto* p = static_cast<unsigned char*>(arena.allocate(bytes, alignment));
      REQUIRE(p != nullptr);
      CHECK(is_aligned(p, alignment));
      std::memset(p, 0xab, bytes);  // ASan flags any overrun of the block
    }
  }
  // Default alignment is max_align_t's.
  for (size_t bytes = 1; bytes < 100; ++bytes) {
    CHECK(is_aligned(arena.allocate(bytes), alignof(std::max_align_t)));
  }
  CHECK(is_aligned(arena.allocate(10, Arena::kMaxAlignment), Arena::kMaxAlignment));
}

TEST_CASE("arena: allocations do not overlap") {
  Arena arena(128);
  std::vector<std::pair<unsigned char*, size_t>> spans;
  for (size_t i = 0; i < 2000; ++i) {
    size_t bytes = 1 + (i * 37) % 300;
    auto* p = static_cast<unsigned char*>(arena.allocate(bytes, size_t{1} << (i % 7)));
    std::memset(p, static_cast<int>(i & 0xff), bytes);
    spans.emplace_back(p, bytes);
  }
  for (size_t i = 0; i < spans.size(); ++i) {
    auto [p, bytes] = spans[i];
    bool intact = std::all_of(p, p + bytes, [&](unsigned char c) { return c == (i & 0xff); });
    REQUIRE(intact);
  }
}

TEST_CASE("arena: blocks grow geometrically") {
  Arena arena(1024);
  arena.allocate(1);
  CHECK(arena.block_count() == 1);
  CHECK(arena.bytes_reserved() == 1024);
  // Fill the first block, then every new block doubles the previous one.
  size_t expected_reserved = 1024;
  size_t block_bytes = 1024;
  for (size_t blocks = 2; blocks <= 6; ++blocks) {
    size_t before = arena.block_count();
    while (arena.block_count() == before) arena.allocate(64);
    block_bytes *= 2;
    expected_reserved += block_bytes;
    CHECK(arena.block_count() == blocks);
    CHECK(arena.bytes_reserved() == expected_reserved);
  }
}

TEST_CASE("arena: a request larger than the doubled block gets a block of its own size") {
  Arena arena(1024);
  arena.allocate(8);
  size_t big = 100000;
  void* p = arena.allocate(big, 1);
  std::memset(p, 1, big);
  CHECK(arena.block_count() == 2);
  CHECK(arena.bytes_reserved() == 1024 + header_bytes() + big);
  // Strict alignment counts in what the request needs.
  Arena aligned(0);
  void* q = aligned.allocate(10, 4096);
  CHECK(is_aligned(q, 4096));
  CHECK(aligned.bytes_reserved() >= header_bytes() + 10);
  CHECK(aligned.bytes_reserved() <= header_bytes() + 10 + 4096);
}

TEST_CASE("arena: large allocations are usable end to end") {
  Arena arena;
  size_t big = size_t{64} << 20;
  auto* p = static_cast<unsigned char*>(arena.allocate(big, 64));
  p[0] = 1;
  p[big - 1] = 2;
  std::memset(p, 3, big);
  CHECK(arena.bytes_used() == big);
  CHECK(arena.bytes_reserved() >= big);
  auto* after = static_cast<unsigned char*>(arena.allocate(16));
  CHECK((after >= p + big || after + 16 <= p));
}

TEST_CASE("arena: reset keeps the first block and reuses it") {
  Arena arena(4096);
  void* first = arena.allocate(32);
  for (int i = 0; i < 1000; ++i) arena.allocate(100);
  CHECK(arena.block_count() > 1);
  arena.reset();
  CHECK(arena.block_count() == 1);
  CHECK(arena.bytes_reserved() == 4096);
  CHECK(arena.bytes_used() == 0);
  // The same memory comes back: no malloc for a request that fits the first block.
  CHECK(arena.allocate(32) == first);
  CHECK(arena.block_count() == 1);
  // Growth after reset doubles from the kept first block again.
  while (arena.block_count() == 1) arena.allocate(100);
  CHECK(arena.bytes_reserved() == 4096 + 8192);
}

TEST_CASE("arena: bytes accounting") {
  Arena arena(4096);
  arena.allocate(10, 1);
  arena.allocate(3, 8);
  arena.allocate(0, 64);
  arena.make<uint64_t>(uint64_t{7});
  arena.allocate_array<uint32_t>(5);
  arena.copy("hello");
  CHECK(arena.bytes_used() == 10 + 3 + 0 + 8 + 20 + 5);
  CHECK(arena.bytes_reserved() == 4096);
  CHECK(arena.copy("") == std::string_view());
  CHECK(arena.bytes_used() == 46);
  arena.reset();
  CHECK(arena.bytes_used() == 0);
}

TEST_CASE("arena: make, allocate_array and copy") {
  struct Point {
    int x;
    int y;
  };
  struct alignas(64) Wide {
    char bytes[64];
  };
  Arena arena(64);
  Point* p = arena.make<Point>(3, 4);  // aggregate
  CHECK(p->x == 3);
  CHECK(p->y == 4);
  auto* v = arena.make<std::pair<int, double>>(1, 2.5);  // constructor
  CHECK(v->second == 2.5);
  Wide* w = arena.make<Wide>();
  CHECK(is_aligned(w, 64));
  uint64_t* xs = arena.allocate_array<uint64_t>(1000);
  std::iota(xs, xs + 1000, uint64_t{0});
  CHECK(xs[999] == 999);
  std::string original = "a string that must survive its source";
  std::string_view copied = arena.copy(original);
  original.assign(original.size(), 'x');
  CHECK(copied == "a string that must survive its source");
  CHECK(arena.copy(std::string_view("\0\1\2", 3)) == std::string_view("\0\1\2", 3));
}

TEST_CASE("arena: move construction and assignment transfer the blocks") {
  Arena a(1024);
  std::string_view s = a.copy("kept across moves");
  for (int i = 0; i < 100; ++i) a.allocate(100);
  size_t reserved = a.bytes_reserved();
  size_t blocks = a.block_count();
  size_t used = a.bytes_used();

  Arena b(std::move(a));
  CHECK(b.bytes_reserved() == reserved);
  CHECK(b.block_count() == blocks);
  CHECK(b.bytes_used() == used);
  CHECK(s == "kept across moves");
  CHECK(a.block_count() == 0);  // NOLINT(bugprone-use-after-move): moved-from is empty
  CHECK(a.bytes_reserved() == 0);
  a.allocate(8);  // and reusable
  CHECK(a.block_count() == 1);

  Arena c(64);
  c.allocate(1000);
  c = std::move(b);  // frees c's old blocks (ASan would report a leak otherwise)
  CHECK(c.bytes_reserved() == reserved);
  CHECK(c.block_count() == blocks);
  CHECK(s == "kept across moves");
  CHECK(b.block_count() == 0);  // NOLINT(bugprone-use-after-move)

  Arena& alias = c;
  c = std::move(alias);  // self-move keeps everything
  CHECK(c.block_count() == blocks);
  CHECK(s == "kept across moves");
}

TEST_CASE("arena: ArenaVector works with std algorithms") {
  Arena arena(256);
  ArenaVector<int> v(arena);
  for (int i = 0; i < 10000; ++i) v.push_back((i * 7919) % 10007);
  std::sort(v.begin(), v.end());
  CHECK(std::is_sorted(v.begin(), v.end()));
  CHECK(std::adjacent_find(v.begin(), v.end()) == v.end());  // 7919 is invertible mod 10007
  auto it = std::lower_bound(v.begin(), v.end(), 5000);
  CHECK(it != v.end());
  CHECK(*it == 5000);
  CHECK(std::accumulate(v.begin(), v.end(), int64_t{0}) > 0);
  CHECK(arena.bytes_used() >= 10000 * sizeof(int));

  ArenaVector<std::string_view> words(arena);
  for (const char* w : {"pear", "apple", "fig"}) words.push_back(arena.copy(w));
  std::sort(words.begin(), words.end());
  CHECK(words.front() == "apple");
  CHECK(words.back() == "pear");
}

TEST_CASE("arena: ArenaAllocator equality, rebind and propagation") {
  Arena a;
  Arena b;
  ArenaAllocator<int> ia(a);
  ArenaAllocator<double> da(ia);  // rebinding conversion
  ArenaAllocator<int> ib(b);
  CHECK(ia == da);
  CHECK(ia != ib);
  CHECK(&da.arena() == &a);
  using Traits = std::allocator_traits<ArenaAllocator<int>>;
  using Rebound = Traits::rebind_alloc<long>;
  static_assert(std::is_same_v<Rebound, ArenaAllocator<long>>);
  CHECK(Rebound(ia) == ia);

  ArenaVector<int> va(a);
  va.assign({1, 2, 3});
  ArenaVector<int> vb(b);
  vb = std::move(va);  // allocator propagates: no copy into b
  CHECK(vb.get_allocator() == ArenaAllocator<int>(a));
  CHECK(b.bytes_used() == 0);
  ArenaVector<int> vc(b);
  vc = vb;  // copy assignment keeps the destination's arena
  CHECK(vc.get_allocator() == ArenaAllocator<int>(b));
  CHECK(vc == vb);
  CHECK(b.bytes_used() >= 3 * sizeof(int));
}

TEST_CASE("arena: containers refuse absurd sizes before the arena's assertion") {
  Arena arena;
  ArenaVector<uint64_t> v(arena);
  CHECK(v.max_size() == Arena::kMaxAllocationBytes / sizeof(uint64_t));
  CHECK_THROWS_AS(v.reserve(v.max_size() + 1), std::length_error);
  CHECK(arena.block_count() == 0);
}

}  // namespace
}  // namespace weasel
