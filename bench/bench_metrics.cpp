// Hot-path cost of the metrics: Counter::inc and Histogram::observe (per-thread sharded
// cells) against the obvious alternative, one shared std::atomic, on 1 and 2 threads. With
// two threads the shared atomic's cache line bounces between cores; the sharded cells do not.
//
//   ./scripts/build.sh release bench_metrics && build/release/bench_metrics
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstdint>

#include "metrics/metrics.hpp"

namespace weasel {
namespace {

// Values spread over the default latency buckets, cycled so the search is not constant.
const std::array<double, 16> kSamples = {0.00003, 0.00012, 0.0004, 0.0009, 0.0017, 0.0031,
                                         0.0072,  0.013,   0.031,  0.07,   0.12,   0.3,
                                         0.7,     1.6,     4.0,    20.0};

Counter sharded_counter;
Histogram sharded_histogram(default_latency_buckets_seconds());

alignas(64) std::atomic<uint64_t> shared_counter{0};

// The baseline histogram: one shared atomic per bucket plus a shared sum, same search.
struct SharedHistogram {
  std::array<std::atomic<uint64_t>, 32> buckets{};
  std::atomic<double> sum{0};
  void observe(double v) {
    std::span<const double> bounds = default_latency_buckets_seconds();
    auto it = std::partition_point(bounds.begin(), bounds.end(),
                                   [v](double bound) { return !(v <= bound); });
    buckets[static_cast<size_t>(it - bounds.begin())].fetch_add(1, std::memory_order_relaxed);
    sum.fetch_add(v, std::memory_order_relaxed);
  }
};
alignas(64) SharedHistogram shared_histogram;

void BM_counter_inc_sharded(benchmark::State& state) {
  for (auto _ : state) sharded_counter.inc();
  benchmark::DoNotOptimize(sharded_counter.value());
  state.SetItemsProcessed(state.iterations());
}

void BM_counter_inc_shared_atomic(benchmark::State& state) {
  for (auto _ : state) shared_counter.fetch_add(1, std::memory_order_relaxed);
  benchmark::DoNotOptimize(shared_counter.load());
  state.SetItemsProcessed(state.iterations());
}

void BM_histogram_observe_sharded(benchmark::State& state) {
  size_t i = static_cast<size_t>(state.thread_index());
  for (auto _ : state) sharded_histogram.observe(kSamples[i++ % kSamples.size()]);
  benchmark::DoNotOptimize(sharded_histogram.sum());
  state.SetItemsProcessed(state.iterations());
}

void BM_histogram_observe_shared_atomic(benchmark::State& state) {
  size_t i = static_cast<size_t>(state.thread_index());
  for (auto _ : state) shared_histogram.observe(kSamples[i++ % kSamples.size()]);
  benchmark::DoNotOptimize(shared_histogram.sum.load());
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_counter_inc_sharded)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_counter_inc_shared_atomic)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_histogram_observe_sharded)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_histogram_observe_shared_atomic)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace weasel

BENCHMARK_MAIN();
