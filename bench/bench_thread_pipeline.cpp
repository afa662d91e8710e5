// Items per second through a 3-stage pipeline (one thread per stage), with 1 and 4 producers
// pushing batches of 1, 16 and 256 items; stage threads take everything available.
// Peer in the same run: the same three stages connected by bounded mutex + condition
// variable queues that copy batches between stages (the obvious alternative design).
// Each iteration pushes kItems items, shuts down with a sentinel and joins every thread.
//
// Run: ./scripts/build.sh release bench_thread_pipeline && ./build/release/bench_thread_pipeline

#include <benchmark/benchmark.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "core/thread_pipeline.hpp"

namespace weasel {
namespace {

constexpr uint64_t kItems = uint64_t{1} << 20;
constexpr int kCapacityLog2 = 14;

struct Item {
  uint64_t value = 0;
  uint64_t derived = 0;
  bool stop = false;
};

// Stage work is deliberately tiny so that the hand-off cost dominates.
struct StageSink {
  uint64_t sum = 0;
  uint64_t count = 0;
};

void work(int stage, Item& item, StageSink& sink) {
  if (stage == 0) item.derived = item.value * 2 + 1;
  sink.sum += item.derived;
  sink.count += 1;
}

using Pipeline = ThreadPipeline<Item>;

void run_pipeline_stage(Pipeline& pipeline, int stage, StageSink& sink) {
  for (bool stop = false; !stop;) {
    Pipeline::StageGuard batch = pipeline.acquire(stage, 0);
    for (Item& item : batch) {
      if (item.stop) {
        stop = true;
        break;
      }
      work(stage, item, sink);
    }
  }
}

void run_pipeline_producer(Pipeline& pipeline, uint64_t items, uint32_t batch) {
  for (uint64_t pushed = 0; pushed < items;) {
    uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(batch, items - pushed));
    Pipeline::PushGuard guard = pipeline.push(n, true);
    for (Item& item : guard) {
      item.value = pushed++;
      item.stop = false;
    }
  }
}

void BM_thread_pipeline(benchmark::State& state) {
  int producers = static_cast<int>(state.range(0));
  uint32_t batch = static_cast<uint32_t>(state.range(1));
  uint64_t checksum = 0;
  for (auto _ : state) {
    Pipeline pipeline(kCapacityLog2, {1, 1, 1});
    StageSink sinks[3];
    std::vector<std::thread> threads;
    for (int s = 0; s < 3; ++s) {
      threads.emplace_back(run_pipeline_stage, std::ref(pipeline), s, std::ref(sinks[s]));
    }
    std::vector<std::thread> producer_threads;
    for (int p = 0; p < producers; ++p) {
      producer_threads.emplace_back(run_pipeline_producer, std::ref(pipeline),
                                    kItems / static_cast<uint64_t>(producers), batch);
    }
    for (std::thread& t : producer_threads) t.join();
    pipeline.push(1, true)[0].stop = true;  // the temporary guard publishes at once
    for (std::thread& t : threads) t.join();
    if (sinks[2].count != kItems) state.SkipWithError("items lost");
    checksum += sinks[2].sum;
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kItems));
}

// The peer: a bounded queue guarded by a mutex, items copied in and out in batches.
class MutexQueue {
 public:
  explicit MutexQueue(size_t capacity) : capacity_(capacity) {}

  void push(const Item* items, size_t n) {
    std::unique_lock lock(mutex_);
    for (size_t done = 0; done < n;) {
      not_full_.wait(lock, [&] { return items_.size() < capacity_; });
      size_t take = std::min(n - done, capacity_ - items_.size());
      items_.insert(items_.end(), items + done, items + done + take);
      done += take;
      not_empty_.notify_one();
    }
  }

  void pop_all(std::vector<Item>& out) {
    out.clear();
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty(); });
    out.swap(items_);
    items_.reserve(capacity_);
    not_full_.notify_all();
  }

 private:
  size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::vector<Item> items_;
};

void run_queue_stage(MutexQueue& in, MutexQueue* out, int stage, StageSink& sink) {
  std::vector<Item> batch;
  for (bool stop = false; !stop;) {
    in.pop_all(batch);
    size_t forward = batch.size();
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].stop) {
        stop = true;
        forward = i + 1;
        break;
      }
      work(stage, batch[i], sink);
    }
    if (out != nullptr) out->push(batch.data(), forward);
  }
}

void run_queue_producer(MutexQueue& queue, uint64_t items, uint32_t batch) {
  std::vector<Item> buffer(batch);
  for (uint64_t pushed = 0; pushed < items;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(batch, items - pushed));
    for (size_t i = 0; i < n; ++i) buffer[i] = Item{pushed++, 0, false};
    queue.push(buffer.data(), n);
  }
}

void BM_mutex_queues(benchmark::State& state) {
  int producers = static_cast<int>(state.range(0));
  uint32_t batch = static_cast<uint32_t>(state.range(1));
  size_t capacity = size_t{1} << kCapacityLog2;
  uint64_t checksum = 0;
  for (auto _ : state) {
    MutexQueue q0(capacity), q1(capacity), q2(capacity);
    StageSink sinks[3];
    std::vector<std::thread> threads;
    threads.emplace_back(run_queue_stage, std::ref(q0), &q1, 0, std::ref(sinks[0]));
    threads.emplace_back(run_queue_stage, std::ref(q1), &q2, 1, std::ref(sinks[1]));
    threads.emplace_back(run_queue_stage, std::ref(q2), nullptr, 2, std::ref(sinks[2]));
    std::vector<std::thread> producer_threads;
    for (int p = 0; p < producers; ++p) {
      producer_threads.emplace_back(run_queue_producer, std::ref(q0),
                                    kItems / static_cast<uint64_t>(producers), batch);
    }
    for (std::thread& t : producer_threads) t.join();
    Item sentinel{0, 0, true};
    q0.push(&sentinel, 1);
    for (std::thread& t : threads) t.join();
    if (sinks[2].count != kItems) state.SkipWithError("items lost");
    checksum += sinks[2].sum;
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kItems));
}

void pipeline_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"producers", "batch"});
  for (int producers : {1, 4}) {
    for (int batch : {1, 16, 256}) b->Args({producers, batch});
  }
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_thread_pipeline)->Apply(pipeline_args);
BENCHMARK(BM_mutex_queues)->Apply(pipeline_args);

}  // namespace
}  // namespace weasel

BENCHMARK_MAIN();
