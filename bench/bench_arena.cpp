// Arena vs malloc/free vs operator new/delete for small objects (8, 16, 64, 256 bytes).
// Two patterns:
// - churn: malloc/new one object and give it back at once, the allocators' best case (the
//   same chunk comes back from the thread cache). An arena cannot free one object, so its
//   counterpart is the batch pattern below;
// - batch: allocate kBatch objects, then release them all (a request's parse results):
//   free/delete each one vs one Arena::reset(). "arena_warm" keeps a first block that holds
//   the whole batch (a connection's arena in steady state), "arena_grow" starts from a 4 KiB
//   first block, so every round mallocs its growth blocks again.
// The per_op counter is the time per object (allocation plus its share of the release).
//
// Run: ./scripts/build.sh release bench_arena && ./build/release/bench_arena

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <new>
#include <vector>

#include "core/arena.hpp"

namespace weasel {
namespace {

constexpr size_t kBatch = 1000;

void set_per_op(benchmark::State& state, size_t ops_per_iteration) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ops_per_iteration));
  state.counters["per_op"] =
      benchmark::Counter(static_cast<double>(state.iterations() * ops_per_iteration),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Touch the memory like a caller would, so that no allocator gets credit for untouched pages.
void touch(void* p) {
  *static_cast<volatile char*>(p) = 1;
  benchmark::DoNotOptimize(p);
}

void BM_churn_malloc(benchmark::State& state) {
  size_t bytes = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) {
      void* p = std::malloc(bytes);
      touch(p);
      std::free(p);
    }
  }
  set_per_op(state, kBatch);
}

void BM_churn_new(benchmark::State& state) {
  size_t bytes = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) {
      void* p = ::operator new(bytes);
      touch(p);
      ::operator delete(p);
    }
  }
  set_per_op(state, kBatch);
}

void batch_arena(benchmark::State& state, size_t first_block_bytes) {
  size_t bytes = static_cast<size_t>(state.range(0));
  Arena arena(first_block_bytes);
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) touch(arena.allocate(bytes));
    arena.reset();
  }
  set_per_op(state, kBatch);
}

void BM_batch_arena_warm(benchmark::State& state) {
  batch_arena(state, kBatch * static_cast<size_t>(state.range(0)) + 4096);
}

void BM_batch_arena_grow(benchmark::State& state) {
  batch_arena(state, 4096);
}

void BM_batch_malloc(benchmark::State& state) {
  size_t bytes = static_cast<size_t>(state.range(0));
  std::vector<void*> live(kBatch);
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) {
      live[i] = std::malloc(bytes);
      touch(live[i]);
    }
    for (void* p : live) std::free(p);
  }
  set_per_op(state, kBatch);
}

void BM_batch_new(benchmark::State& state) {
  size_t bytes = static_cast<size_t>(state.range(0));
  std::vector<void*> live(kBatch);
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) {
      live[i] = ::operator new(bytes);
      touch(live[i]);
    }
    for (void* p : live) ::operator delete(p);
  }
  set_per_op(state, kBatch);
}

#define WEASEL_SIZES ->Arg(8)->Arg(16)->Arg(64)->Arg(256)
BENCHMARK(BM_churn_malloc) WEASEL_SIZES;
BENCHMARK(BM_churn_new) WEASEL_SIZES;
BENCHMARK(BM_batch_arena_warm) WEASEL_SIZES;
BENCHMARK(BM_batch_arena_grow) WEASEL_SIZES;
BENCHMARK(BM_batch_malloc) WEASEL_SIZES;
BENCHMARK(BM_batch_new) WEASEL_SIZES;
#undef WEASEL_SIZES

}  // namespace
}  // namespace weasel

BENCHMARK_MAIN();
