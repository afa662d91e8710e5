// The cost retention's time -> version mapping adds to LocalLogStore::append: one more walk
// over the batch's record headers (batch_max_timestamp_ms, src/log/segment.hpp) next to the
// full validation append already does (BatchView::decode), side by side on the same batches.
//
// Batches: N transactions (N = 1, 28, 256; 28 is the mean group size of the commit benchmark),
// each with one write of a 16-byte key and a 100-byte value, as the persist stage encodes them.
// items_per_second counts batches.
//
// Run: ./scripts/build.sh release bench_log_timestamps, then
//      nice -n -10 build/release/bench_log_timestamps --benchmark_repetitions=5
//        --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
// Overhead: time(decode_and_max_timestamp) / time(decode) - 1 for the same N.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "log/log_format.hpp"
#include "log/segment.hpp"

namespace weasel {
namespace {

std::string make_batch(int transactions) {
  BatchEncoder encoder;
  encoder.begin(1000);
  std::string key(16, 'k');
  std::string value(100, 'v');
  std::string request_id = "bench-0123456789abcdef";
  LogOperation op{LogOperation::Type::kWrite, key, value, {}, false};
  for (int i = 0; i < transactions; ++i) {
    encoder.add({1001 + static_cast<uint64_t>(i), 1'700'000'000'000 + i, request_id, {&op, 1}});
  }
  return std::string(encoder.finish("leader-0123456789abcdef"));
}

void BM_decode(benchmark::State& state) {
  const std::string batch = make_batch(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    BatchDecodeResult r = BatchView::decode(batch);
    benchmark::DoNotOptimize(r.batch.header().last_version);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_decode_and_max_timestamp(benchmark::State& state) {
  const std::string batch = make_batch(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    BatchDecodeResult r = BatchView::decode(batch);
    int64_t latest = batch_max_timestamp_ms(r.batch);
    benchmark::DoNotOptimize(latest);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_decode)->Arg(1)->Arg(28)->Arg(256);
BENCHMARK(BM_decode_and_max_timestamp)->Arg(1)->Arg(28)->Arg(256);

}  // namespace
}  // namespace weasel

BENCHMARK_MAIN();
