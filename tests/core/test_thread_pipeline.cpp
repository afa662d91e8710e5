// Tests for weasel::ThreadPipeline (src/core/thread_pipeline.hpp). Label "concurrency": the
// TSan build runs them too. No sleeps and no timed waits: threads synchronize through the
// pipeline itself and through joins, and each worker records what it saw
// for the main thread to check after the joins.

#include "core/thread_pipeline.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace weasel {
namespace {

constexpr int kMaxStages = 4;

struct Item {
  uint32_t producer = 0;
  uint32_t index = 0;  // per-producer order
  bool stop = false;   // the shutdown sentinel
  bool used = false;   // the slot held an item before
  // marks[s] is written, plainly, by the stage-s thread that owns the item (sequence % n) and
  // read by every thread of stage s+1: TSan reports it if the pipeline orders them wrongly.
  uint64_t marks[kMaxStages] = {};
  std::atomic<int> visits[kMaxStages];  // threads of each stage that processed the item
};

using Pipeline = ThreadPipeline<Item>;

uint64_t key_of(const Item& item) {
  return uint64_t{item.producer} << 32 | item.index;
}
uint64_t mark_for(int stage, uint64_t key) {
  return key * 31 + static_cast<uint64_t>(stage) + 1;
}

void fill(Item& item, uint32_t producer, uint32_t index, bool stop) {
  item.producer = producer;
  item.index = index;
  item.stop = stop;
  item.used = true;
  for (int s = 0; s < kMaxStages; ++s) {
    item.marks[s] = 0;
    item.visits[s].store(0, std::memory_order_relaxed);
  }
}

struct StageLog {
  std::vector<uint64_t> keys;  // in the order this thread saw them
  uint64_t violations = 0;
  uint64_t batches = 0;
  uint32_t largest_batch = 0;
  bool saw_stop = false;
};

// One stage thread, written the way pipeline users should write theirs: loop on blocking
// acquire, act on owned items, leave after the batch holding the sentinel is released.
void run_stage(Pipeline& pipeline, int stage, int thread, uint32_t max_batch, StageLog& log) {
  int threads_here = pipeline.thread_count(stage);
  int threads_before = stage > 0 ? pipeline.thread_count(stage - 1) : 0;
  while (!log.saw_stop) {
    Pipeline::StageGuard batch = pipeline.acquire(stage, thread, max_batch);
    log.batches += 1;
    log.largest_batch = std::max(log.largest_batch, batch.size());
    if (batch.empty() || (max_batch != 0 && batch.size() > max_batch)) log.violations += 1;
    uint64_t sequence = batch.first_sequence();
    for (Item& item : batch) {
      if (log.saw_stop) log.violations += 1;  // nothing may follow the sentinel
      item.visits[stage].fetch_add(1, std::memory_order_relaxed);
      if (stage > 0 && item.visits[stage - 1].load(std::memory_order_relaxed) != threads_before) {
        log.violations += 1;  // reached this stage before every previous thread released it
      }
      if (item.stop) {
        log.saw_stop = true;
        continue;
      }
      uint64_t key = key_of(item);
      if (stage > 0 && item.marks[stage - 1] != mark_for(stage - 1, key)) log.violations += 1;
      if (sequence % static_cast<uint64_t>(threads_here) == static_cast<uint64_t>(thread)) {
        item.marks[stage] = mark_for(stage, key);
      }
      log.keys.push_back(key);
      ++sequence;
    }
  }  // the guard releasing the sentinel lets the next stage see it and stop too
}

struct ProducerLog {
  uint64_t violations = 0;
};

// Pushes `count` items in batches of 1, 2, ..., max_push, 1, 2, ...
void run_producer(Pipeline& pipeline, uint32_t producer, uint32_t count, uint32_t max_push,
                  ProducerLog& log) {
  int last = pipeline.stage_count() - 1;
  int last_threads = pipeline.thread_count(last);
  uint32_t batch_size = 1;
  for (uint32_t index = 0; index < count;) {
    uint32_t n = std::min(batch_size, count - index);
    Pipeline::PushGuard guard = pipeline.push(n, /*block=*/true);
    if (!guard || guard.size() != n) log.violations += 1;
    for (Item& item : guard) {
      if (item.used && item.visits[last].load(std::memory_order_relaxed) != last_threads) {
        log.violations += 1;  // slot reused before the last stage released it
      }
      fill(item, producer, index++, /*stop=*/false);
    }
    batch_size = batch_size % max_push + 1;
  }
}

void push_sentinel(Pipeline& pipeline) {
  Pipeline::PushGuard guard = pipeline.push(1, /*block=*/true);
  REQUIRE(guard);
  fill(guard[0], 0, 0, /*stop=*/true);
}

struct RunConfig {
  int capacity_log2;
  std::vector<int> threads_per_stage;
  uint32_t producers;
  uint32_t items_per_producer;
  uint32_t max_push;
  uint32_t max_batch;  // per acquire; 0 = all available
};

// Runs producers and every stage thread to completion, shutting down with a sentinel, then
// checks what every thread saw.
void run_and_check(const RunConfig& config) {
  Pipeline pipeline(config.capacity_log2, config.threads_per_stage);
  std::vector<std::vector<StageLog>> stage_logs;
  std::vector<std::thread> stage_threads;
  uint64_t total = uint64_t{config.producers} * config.items_per_producer;
  for (int s = 0; s < pipeline.stage_count(); ++s) {
    stage_logs.emplace_back(static_cast<size_t>(pipeline.thread_count(s)));
    for (StageLog& log : stage_logs.back()) log.keys.reserve(total);
  }
  for (int s = 0; s < pipeline.stage_count(); ++s) {
    for (int t = 0; t < pipeline.thread_count(s); ++t) {
      stage_threads.emplace_back(run_stage, std::ref(pipeline), s, t, config.max_batch,
                                 std::ref(stage_logs[s][t]));
    }
  }
  std::vector<ProducerLog> producer_logs(config.producers);
  std::vector<std::thread> producers;
  for (uint32_t p = 0; p < config.producers; ++p) {
    producers.emplace_back(run_producer, std::ref(pipeline), p, config.items_per_producer,
                           config.max_push, std::ref(producer_logs[p]));
  }
  for (std::thread& t : producers) t.join();
  push_sentinel(pipeline);  // only once every producer is done
  for (std::thread& t : stage_threads) t.join();

  for (const ProducerLog& log : producer_logs) CHECK(log.violations == 0);
  const std::vector<uint64_t>& reference = stage_logs[0][0].keys;
  REQUIRE(reference.size() == total);
  // Each producer's items appear in its order, each exactly once.
  std::vector<uint32_t> next_index(config.producers, 0);
  for (uint64_t key : reference) {
    uint32_t producer = static_cast<uint32_t>(key >> 32);
    REQUIRE(producer < config.producers);
    REQUIRE(static_cast<uint32_t>(key) == next_index[producer]++);
  }
  // Every thread of every stage saw every item exactly once, in the same order.
  for (const std::vector<StageLog>& logs : stage_logs) {
    for (const StageLog& log : logs) {
      CHECK(log.violations == 0);
      CHECK(log.saw_stop);
      CHECK(log.keys == reference);
      if (config.max_batch != 0) CHECK(log.largest_batch <= config.max_batch);
    }
  }
  CHECK(pipeline.in_flight() == 0);
}

TEST_CASE("pipeline: single producer, three stages, order kept everywhere") {
  run_and_check({.capacity_log2 = 4,
                 .threads_per_stage = {1, 1, 1},
                 .producers = 1,
                 .items_per_producer = 20000,
                 .max_push = 7,
                 .max_batch = 0});
}

TEST_CASE("pipeline: multiple producers and several threads per stage") {
  run_and_check({.capacity_log2 = 5,
                 .threads_per_stage = {2, 3, 1},
                 .producers = 4,
                 .items_per_producer = 4000,
                 .max_push = 5,
                 .max_batch = 0});
}

TEST_CASE("pipeline: acquire respects max_batch under load") {
  run_and_check({.capacity_log2 = 6,
                 .threads_per_stage = {1, 2},
                 .producers = 2,
                 .items_per_producer = 5000,
                 .max_push = 16,
                 .max_batch = 3});
}

TEST_CASE("pipeline: wraps around a tiny ring many times over") {
  // 1000 times the capacity; capacity 1 forces a full hand-off for every item.
  run_and_check({.capacity_log2 = 1,
                 .threads_per_stage = {1, 2},
                 .producers = 2,
                 .items_per_producer = 1000,
                 .max_push = 2,
                 .max_batch = 0});
  run_and_check({.capacity_log2 = 0,
                 .threads_per_stage = {1, 1, 1},
                 .producers = 1,
                 .items_per_producer = 1000,
                 .max_push = 1,
                 .max_batch = 0});
}

TEST_CASE("pipeline: batches and sequence numbers, single-threaded") {
  Pipeline pipeline(3, {1});
  CHECK(pipeline.capacity() == 8);
  {
    Pipeline::PushGuard guard = pipeline.push(5, false);
    REQUIRE(guard);
    CHECK(guard.size() == 5);
    CHECK(guard.first_sequence() == 0);
    uint32_t i = 0;
    for (Item& item : guard) fill(item, 9, i++, false);
    CHECK(pipeline.acquire(0, 0, 0, false).empty());  // not published while the guard lives
  }
  CHECK(pipeline.in_flight() == 5);
  CHECK(pipeline.queue_depth(0) == 5);
  uint32_t expected = 0;
  for (uint32_t want : {2u, 2u, 1u}) {
    Pipeline::StageGuard batch = pipeline.acquire(0, 0, 2, false);
    REQUIRE(batch);
    CHECK(batch.size() == want);
    CHECK(batch.first_sequence() == expected);
    for (Item& item : batch) CHECK(item.index == expected++);
  }
  Pipeline::StageGuard none = pipeline.acquire(0, 0, 0, false);
  CHECK(!none);
  CHECK(none.empty());
  CHECK(pipeline.in_flight() == 0);
  CHECK(pipeline.queue_depth(0) == 0);
}

TEST_CASE("pipeline: non-blocking push fails when full and succeeds after release") {
  Pipeline pipeline(3, {1, 1});
  { Pipeline::PushGuard all = pipeline.push(8, false); }
  CHECK(pipeline.in_flight() == 8);
  CHECK(!pipeline.push(1, false));
  {
    Pipeline::StageGuard first = pipeline.acquire(0, 0, 0, false);
    CHECK(first.size() == 8);
  }
  CHECK(pipeline.queue_depth(0) == 0);
  CHECK(pipeline.queue_depth(1) == 8);
  CHECK(!pipeline.push(1, false));  // the first stage releasing is not enough
  {
    Pipeline::StageGuard last = pipeline.acquire(1, 0, 3, false);
    CHECK(last.size() == 3);
    CHECK(!pipeline.push(1, false));  // still held by the last stage
  }
  CHECK(pipeline.in_flight() == 5);
  CHECK(!pipeline.push(4, false));
  Pipeline::PushGuard three = pipeline.push(3, false);
  CHECK(three);
  CHECK(three.first_sequence() == 8);
  CHECK(!pipeline.push(1, false));
  CHECK(!pipeline.push(0, false));  // nothing reserved, nothing to publish
}

TEST_CASE("pipeline: push guards publish in reservation order") {
  Pipeline pipeline(4, {1});
  Pipeline::PushGuard first = pipeline.push(2, false);
  Pipeline::PushGuard second = pipeline.push(3, false);
  REQUIRE(first);
  REQUIRE(second);
  for (uint32_t i = 0; i < 2; ++i) fill(first[i], 1, i, false);
  for (uint32_t i = 0; i < 3; ++i) fill(second[i], 2, i, false);
  second.reset();                                   // does not wait for `first`...
  CHECK(pipeline.acquire(0, 0, 0, false).empty());  // ...but stays invisible until it is in
  CHECK(pipeline.in_flight() == 0);
  first.reset();  // publishes both
  CHECK(pipeline.in_flight() == 5);
  Pipeline::StageGuard batch = pipeline.acquire(0, 0, 0, false);
  REQUIRE(batch.size() == 5);
  std::vector<uint64_t> keys;
  for (Item& item : batch) keys.push_back(key_of(item));
  CHECK(keys == std::vector<uint64_t>{uint64_t{1} << 32, (uint64_t{1} << 32) + 1, uint64_t{2} << 32,
                                      (uint64_t{2} << 32) + 1, (uint64_t{2} << 32) + 2});
}

TEST_CASE("pipeline: producers publishing out of order from other threads") {
  // Each producer thread publishes on its own; the consumer never synchronizes with them
  // except through the pipeline. Whichever producer publishes last moves published_ over
  // the other's batch: under TSan this fails if that does not carry the other's writes.
  for (int round = 0; round < 50; ++round) {
    Pipeline pipeline(4, {1});
    Pipeline::PushGuard first = pipeline.push(2, false);
    Pipeline::PushGuard second = pipeline.push(1, false);
    std::thread first_producer([&] {
      for (uint32_t i = 0; i < first.size(); ++i) fill(first[i], 1, i, false);
      first.reset();
    });
    std::thread second_producer([&] {
      fill(second[0], 2, 0, false);
      second.reset();
    });
    std::vector<uint64_t> keys;
    while (keys.size() < 3) {
      Pipeline::StageGuard batch = pipeline.acquire(0, 0);
      for (Item& item : batch) keys.push_back(key_of(item));
    }
    CHECK(keys ==
          std::vector<uint64_t>{uint64_t{1} << 32, (uint64_t{1} << 32) + 1, uint64_t{2} << 32});
    first_producer.join();
    second_producer.join();
  }
}

TEST_CASE("pipeline: guards move without publishing or releasing twice") {
  Pipeline pipeline(3, {1, 1});
  Pipeline::PushGuard a = pipeline.push(2, false);
  Pipeline::PushGuard b(std::move(a));
  CHECK(!a);  // NOLINT(bugprone-use-after-move): moved-from guards are empty
  CHECK(a.size() == 0);
  CHECK(b.size() == 2);
  a.reset();  // publishes nothing
  CHECK(pipeline.acquire(0, 0, 0, false).empty());
  Pipeline::PushGuard c;
  CHECK(!c);
  c = std::move(b);
  c = pipeline.push(1, false);  // move assignment publishes the guard it replaces
  CHECK(pipeline.queue_depth(0) == 2);
  c.reset();
  CHECK(pipeline.queue_depth(0) == 3);

  Pipeline::StageGuard s1 = pipeline.acquire(0, 0, 2, false);
  Pipeline::StageGuard s2(std::move(s1));
  CHECK(!s1);  // NOLINT(bugprone-use-after-move)
  s1.reset();  // releases nothing
  CHECK(pipeline.acquire(1, 0, 0, false).empty());
  Pipeline::StageGuard s3;
  s3 = std::move(s2);
  CHECK(s3.size() == 2);
  s3 = Pipeline::StageGuard();  // releases the batch exactly once
  CHECK(pipeline.queue_depth(1) == 2);
  Pipeline::StageGuard rest = pipeline.acquire(0, 0, 0, false);
  CHECK(rest.size() == 1);
  CHECK(rest.first_sequence() == 2);
}

TEST_CASE("pipeline: shutdown with a sentinel that every stage recognizes") {
  // The pattern from the header: producers finish, one sentinel goes in, every stage thread
  // returns after releasing the batch that holds it.
  Pipeline pipeline(2, {2, 1});
  std::vector<StageLog> logs(3);
  std::thread s0a(run_stage, std::ref(pipeline), 0, 0, 0u, std::ref(logs[0]));
  std::thread s0b(run_stage, std::ref(pipeline), 0, 1, 0u, std::ref(logs[1]));
  std::thread s1(run_stage, std::ref(pipeline), 1, 0, 0u, std::ref(logs[2]));
  ProducerLog producer_log;
  run_producer(pipeline, 0, 50, 3, producer_log);
  push_sentinel(pipeline);
  s0a.join();
  s0b.join();
  s1.join();
  for (const StageLog& log : logs) {
    CHECK(log.saw_stop);
    CHECK(log.violations == 0);
    CHECK(log.keys.size() == 50);
  }
  CHECK(producer_log.violations == 0);
  CHECK(pipeline.in_flight() == 0);
  CHECK(pipeline.queue_depth(0) == 0);
  CHECK(pipeline.queue_depth(1) == 0);
}

}  // namespace
}  // namespace weasel
