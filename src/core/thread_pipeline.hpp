#pragma once
// ThreadPipeline<T>: a bounded, lock-free, multi-stage ring that moves items between threads
// in batches (the commit pipeline: I/O threads push -> sequence -> resolve -> persist ->
// release).
//
// Contract
// - One ring of 2^capacity_log2 slots of T. Items never move: producers fill a slot, every
//   stage works on it in place, and the slot is reused once the last stage released it. A slot
//   keeps whatever the previous item left in it, so producers assign every field they use.
// - Producers reserve slots with push() and fill them through the returned PushGuard, which
//   publishes them on destruction. Stage 0 sees items strictly in reservation order: a
//   published batch becomes visible once every earlier reservation is published too. The
//   guard never waits for that: the producer publishing the missing batch carries the later
//   ones along, so a slow or descheduled producer never blocks the others.
// - Stage s has threads_per_stage[s] threads, named (s, 0..n-1). Every thread of a stage sees
//   every item, in push order, exactly once; the stage's code decides which items it acts on
//   (e.g. sequence % thread_count). An item reaches stage s+1 only when every thread of stage s
//   released it. Threads of one stage run concurrently on the same items, so each may write
//   only the parts of an item it owns; writes made before a release are visible downstream.
// - acquire() hands a thread the next batch (everything available, or up to max_batch); its
//   StageGuard releases the batch on destruction. A thread holds at most one StageGuard at a
//   time and only that thread acquires as (stage, thread); a guard handed to another thread
//   (with the usual synchronization) may be released there.
// - Blocking waits are futex waits on a per-position word; nothing sleeps or spins unbounded.
//   Releasing a batch costs one store and one load when nobody sleeps; publishing a push adds
//   a compare-exchange. Only the first release after a thread went to sleep notifies.
// - Full pipeline: push(n, false) returns an empty guard at once (the commit path answers
//   503); push(n, true) waits for room. n must not exceed capacity().
//
// Shutdown: acquire(block = true) waits for items forever, so stop a pipeline with an item:
// once every producer is done, push one sentinel item (a field saying "stop") and keep
// pushing nothing after it. Each stage thread processes its batch up to the sentinel, lets its
// guard go (which releases the sentinel downstream) and returns. The sentinel thus reaches
// every thread of every stage after all real items, and the pipeline is empty when the last
// stage's threads return. See the "shutdown" test in tests/core/test_thread_pipeline.cpp.
//
// Deadlock to avoid: a thread that holds an unpublished PushGuard must not push(block = true)
// again nor wait for a stage to see later items: those wait for this guard.
//
// Ownership: the pipeline owns the ring and every T in it; guards borrow the pipeline, which
// must outlive them. Sequence numbers count items from 0 and are 64-bit: they never wrap.

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <utility>
#include <vector>

#include "core/assert.hpp"

namespace weasel {

template <class T>
class ThreadPipeline {
 public:
  static constexpr int kMaxCapacityLog2 = 30;
  static constexpr int kMaxThreadsPerStage = 1024;

  ThreadPipeline(int capacity_log2, std::vector<int> threads_per_stage);
  ThreadPipeline(const ThreadPipeline&) = delete;
  ThreadPipeline& operator=(const ThreadPipeline&) = delete;

  class Iterator;
  class PushGuard;
  class StageGuard;

  PushGuard push(uint32_t count, bool block);
  StageGuard acquire(int stage, int thread, uint32_t max_batch = 0, bool block = true);

  size_t capacity() const { return mask_ + 1; }
  int stage_count() const { return static_cast<int>(threads_per_stage_.size()); }
  int thread_count(int stage) const;
  // Items pushed and not yet released by the last stage (for a gauge).
  size_t in_flight() const;
  // Items released by every thread of the previous stage (pushed, for stage 0) and not yet by
  // every thread of `stage`: weaseldb_pipeline_queue_depth{stage}.
  size_t queue_depth(int stage) const;

 private:
  static constexpr size_t kCacheLineBytes = 64;

  // A position that threads wait on. `sleep_word` is the futex word (futexes are 32-bit):
  // bit 0 says someone may sleep, the other bits count wake-ups. The first thread to advance
  // the position after a sleeper registered clears the bit and notifies; later advances cost
  // a load until someone sleeps again, however long the woken threads take to run.
  struct alignas(kCacheLineBytes) Position {
    std::atomic<uint64_t> value{0};
    mutable std::atomic<uint32_t> sleep_word{0};
  };
  struct StageThread {
    Position released;  // read by the next stage (by producers, for the last stage)
    alignas(kCacheLineBytes) uint64_t cursor = 0;  // next sequence to acquire; owner only
    bool holding = false;                          // owner only
  };
  // The least advanced of a set of positions, and which one to wait on.
  struct Slowest {
    uint64_t value;
    const Position* position;
  };

  T& slot(uint64_t sequence) { return ring_[sequence & mask_]; }
  StageThread& stage_thread(int stage, int thread);
  Slowest slowest_upstream(int stage) const;
  Slowest slowest_of_stage(int stage) const;
  static void advance(Position& position, uint64_t value);
  static void wake_sleepers(const Position& position);
  static void wait_while(const Position& position, uint64_t value);
  void publish(uint64_t begin, uint32_t count);
  void release(int stage, int thread, uint64_t end);

  uint64_t mask_;
  std::vector<int> threads_per_stage_;
  std::vector<int> first_thread_of_stage_;
  std::unique_ptr<T[]> ring_;
  // filled_[b & mask_] = e once the reservation [b, e) is filled; stale entries are <= b.
  std::unique_ptr<std::atomic<uint64_t>[]> filled_;
  std::unique_ptr<StageThread[]> threads_;
  alignas(kCacheLineBytes) std::atomic<uint64_t> reserved_{0};  // next sequence to reserve
  Position published_;                                          // end of the published prefix
};

// Walks the slots of a batch in sequence order.
template <class T>
class ThreadPipeline<T>::Iterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using pointer = T*;
  using reference = T&;

  Iterator() = default;
  Iterator(ThreadPipeline* pipeline, uint64_t sequence) : pipeline_(pipeline), seq_(sequence) {}
  T& operator*() const { return pipeline_->slot(seq_); }
  T* operator->() const { return &pipeline_->slot(seq_); }
  Iterator& operator++() {
    ++seq_;
    return *this;
  }
  Iterator operator++(int) {
    Iterator before = *this;
    ++seq_;
    return before;
  }
  bool operator==(const Iterator& other) const { return seq_ == other.seq_; }
  uint64_t sequence() const { return seq_; }

 private:
  ThreadPipeline* pipeline_ = nullptr;
  uint64_t seq_ = 0;
};

// Slots reserved by push(); published to stage 0 when the guard dies. Empty (false) when
// nothing was reserved.
template <class T>
class ThreadPipeline<T>::PushGuard {
 public:
  PushGuard() = default;
  PushGuard(PushGuard&& other) noexcept
      : pipeline_(std::exchange(other.pipeline_, nullptr)),
        begin_(other.begin_),
        count_(std::exchange(other.count_, 0)) {}
  PushGuard& operator=(PushGuard&& other) noexcept {
    if (this != &other) {
      reset();
      pipeline_ = std::exchange(other.pipeline_, nullptr);
      begin_ = other.begin_;
      count_ = std::exchange(other.count_, 0);
    }
    return *this;
  }
  ~PushGuard() { reset(); }

  explicit operator bool() const { return pipeline_ != nullptr; }
  uint32_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  uint64_t first_sequence() const { return begin_; }
  Iterator begin() const { return Iterator(pipeline_, begin_); }
  Iterator end() const { return Iterator(pipeline_, begin_ + count_); }
  T& operator[](uint32_t i) const {
    WEASEL_ASSERT(i < count_);
    return pipeline_->slot(begin_ + i);
  }
  // Publishes now (waiting for earlier reservations) and leaves the guard empty.
  void reset() {
    if (pipeline_ != nullptr) std::exchange(pipeline_, nullptr)->publish(begin_, count_);
    count_ = 0;
  }

 private:
  friend class ThreadPipeline;
  PushGuard(ThreadPipeline* pipeline, uint64_t begin, uint32_t count)
      : pipeline_(pipeline), begin_(begin), count_(count) {}

  ThreadPipeline* pipeline_ = nullptr;
  uint64_t begin_ = 0;
  uint32_t count_ = 0;
};

// A batch acquired by one stage thread; released to the next stage when the guard dies.
// Empty when a non-blocking acquire found nothing.
template <class T>
class ThreadPipeline<T>::StageGuard {
 public:
  StageGuard() = default;
  StageGuard(StageGuard&& other) noexcept
      : pipeline_(std::exchange(other.pipeline_, nullptr)),
        stage_(other.stage_),
        thread_(other.thread_),
        begin_(other.begin_),
        count_(std::exchange(other.count_, 0)) {}
  StageGuard& operator=(StageGuard&& other) noexcept {
    if (this != &other) {
      reset();
      pipeline_ = std::exchange(other.pipeline_, nullptr);
      stage_ = other.stage_;
      thread_ = other.thread_;
      begin_ = other.begin_;
      count_ = std::exchange(other.count_, 0);
    }
    return *this;
  }
  ~StageGuard() { reset(); }

  explicit operator bool() const { return pipeline_ != nullptr; }
  uint32_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  uint64_t first_sequence() const { return begin_; }
  Iterator begin() const { return Iterator(pipeline_, begin_); }
  Iterator end() const { return Iterator(pipeline_, begin_ + count_); }
  T& operator[](uint32_t i) const {
    WEASEL_ASSERT(i < count_);
    return pipeline_->slot(begin_ + i);
  }
  // Releases the batch now and leaves the guard empty.
  void reset() {
    if (pipeline_ != nullptr) {
      std::exchange(pipeline_, nullptr)->release(stage_, thread_, begin_ + count_);
    }
    count_ = 0;
  }

 private:
  friend class ThreadPipeline;
  StageGuard(ThreadPipeline* pipeline, int stage, int thread, uint64_t begin, uint32_t count)
      : pipeline_(pipeline), stage_(stage), thread_(thread), begin_(begin), count_(count) {}

  ThreadPipeline* pipeline_ = nullptr;
  int stage_ = 0;
  int thread_ = 0;
  uint64_t begin_ = 0;
  uint32_t count_ = 0;
};

template <class T>
ThreadPipeline<T>::ThreadPipeline(int capacity_log2, std::vector<int> threads_per_stage)
    : threads_per_stage_(std::move(threads_per_stage)) {
  WEASEL_ASSERT(capacity_log2 >= 0 && capacity_log2 <= kMaxCapacityLog2);
  WEASEL_ASSERT(!threads_per_stage_.empty());
  mask_ = (uint64_t{1} << capacity_log2) - 1;
  int total_threads = 0;
  for (int n : threads_per_stage_) {
    WEASEL_ASSERT(n >= 1 && n <= kMaxThreadsPerStage);
    first_thread_of_stage_.push_back(total_threads);
    total_threads += n;
  }
  ring_ = std::make_unique<T[]>(capacity());
  filled_ = std::make_unique<std::atomic<uint64_t>[]>(capacity());
  threads_ = std::make_unique<StageThread[]>(static_cast<size_t>(total_threads));
}

template <class T>
int ThreadPipeline<T>::thread_count(int stage) const {
  WEASEL_ASSERT(stage >= 0 && stage < stage_count());
  return threads_per_stage_[stage];
}

template <class T>
typename ThreadPipeline<T>::StageThread& ThreadPipeline<T>::stage_thread(int stage, int thread) {
  WEASEL_ASSERT(thread >= 0 && thread < thread_count(stage));
  return threads_[first_thread_of_stage_[stage] + thread];
}

template <class T>
typename ThreadPipeline<T>::Slowest ThreadPipeline<T>::slowest_of_stage(int stage) const {
  // Acquire loads of every thread's position: all their writes to the items become visible.
  const StageThread* first = &threads_[first_thread_of_stage_[stage]];
  Slowest slowest{first[0].released.value.load(std::memory_order_acquire), &first[0].released};
  for (int t = 1; t < threads_per_stage_[stage]; ++t) {
    uint64_t value = first[t].released.value.load(std::memory_order_acquire);
    if (value < slowest.value) slowest = {value, &first[t].released};
  }
  return slowest;
}

template <class T>
typename ThreadPipeline<T>::Slowest ThreadPipeline<T>::slowest_upstream(int stage) const {
  if (stage > 0) return slowest_of_stage(stage - 1);
  return {published_.value.load(std::memory_order_acquire), &published_};
}

template <class T>
void ThreadPipeline<T>::advance(Position& position, uint64_t value) {
  position.value.store(value, std::memory_order_seq_cst);
  wake_sleepers(position);
}

// The futex calls are made directly rather than through std::atomic::wait/notify: libstdc++'s
// wait spins and calls sched_yield several times before it sleeps, which on a small machine
// with one thread per stage costs more than it saves (measured: sched_yield was the most
// expensive system call of a commit). Spurious returns are fine: callers re-check.
inline void futex_wait(const std::atomic<uint32_t>& word, uint32_t expected) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected,
          nullptr, nullptr, 0);
}

inline void futex_wake_all(const std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX,
          nullptr, nullptr, 0);
}

// Sleeping protocol (every access seq_cst): a sleeper sets bit 0 of sleep_word, checks the
// value once more and sleeps only while sleep_word keeps the exact word it saw. A thread that
// moved the value then reads sleep_word: it sees the bit (and notifies), or the word already
// changed, which only a notifier does, right before notifying. No wake-up is lost.
template <class T>
void ThreadPipeline<T>::wake_sleepers(const Position& position) {
  uint32_t word = position.sleep_word.load(std::memory_order_seq_cst);
  while ((word & 1) != 0) {
    // +1 clears the bit and counts a wake-up in one step.
    if (position.sleep_word.compare_exchange_weak(word, word + 1, std::memory_order_seq_cst)) {
      futex_wake_all(position.sleep_word);
      return;
    }
  }
}

template <class T>
void ThreadPipeline<T>::wait_while(const Position& position, uint64_t value) {
  uint32_t word = position.sleep_word.load(std::memory_order_seq_cst);
  for (;;) {
    if (position.value.load(std::memory_order_seq_cst) != value) return;
    if ((word & 1) != 0) break;
    if (position.sleep_word.compare_exchange_weak(word, word | 1, std::memory_order_seq_cst)) {
      word |= 1;
      break;
    }
  }
  if (position.value.load(std::memory_order_seq_cst) != value) return;
  futex_wait(position.sleep_word, word);  // callers re-check the value
}

template <class T>
typename ThreadPipeline<T>::PushGuard ThreadPipeline<T>::push(uint32_t count, bool block) {
  WEASEL_ASSERT(count <= capacity());
  if (count == 0) return PushGuard();
  for (;;) {
    // The reservation counter first: the last stage, read after it, can then only look
    // fuller than it is at that moment if it really was full, never by a stale read.
    uint64_t begin = reserved_.load(std::memory_order_relaxed);
    Slowest oldest = slowest_of_stage(stage_count() - 1);
    uint64_t in_use = begin > oldest.value ? begin - oldest.value : 0;
    if (in_use + count <= capacity()) {
      // The acquire loads of the last stage ordered its use of these slots before ours.
      if (reserved_.compare_exchange_weak(begin, begin + count, std::memory_order_relaxed)) {
        return PushGuard(this, begin, count);
      }
      continue;  // another producer reserved first
    }
    if (!block) return PushGuard();
    wait_while(*oldest.position, oldest.value);
  }
}

template <class T>
void ThreadPipeline<T>::publish(uint64_t begin, uint32_t count) {
  // Mark the batch filled, then move published_ over every filled batch from where it is.
  // seq_cst on both sides: of two adjacent producers, the earlier one sees the later one's
  // mark, or the later one sees published_ at its own batch; neither batch is left behind.
  filled_[begin & mask_].store(begin + count, std::memory_order_seq_cst);
  uint64_t position = published_.value.load(std::memory_order_seq_cst);
  bool moved = false;
  for (;;) {
    // Acquire (seq_cst) on the mark and an RMW on published_: the items of every batch moved
    // over reach stage 0 through the release sequence of published_.
    uint64_t end = filled_[position & mask_].load(std::memory_order_seq_cst);
    if (end <= position) break;  // the batch at `position` is not filled yet (or not reserved)
    uint64_t start = position;
    if (published_.value.compare_exchange_weak(position, end, std::memory_order_seq_cst)) {
      // published_ stayed at `start`, so the mark read belongs to the batch starting there.
      WEASEL_ASSERT(end - start <= capacity());
      position = end;
      moved = true;
    }
  }
  if (moved) wake_sleepers(published_);
}

template <class T>
typename ThreadPipeline<T>::StageGuard ThreadPipeline<T>::acquire(int stage, int thread,
                                                                  uint32_t max_batch, bool block) {
  StageThread& me = stage_thread(stage, thread);
  WEASEL_ASSERT_MSG(!me.holding, "a stage thread releases its batch before acquiring again");
  uint64_t begin = me.cursor;
  for (;;) {
    Slowest upstream = slowest_upstream(stage);
    WEASEL_ASSERT(upstream.value >= begin && upstream.value - begin <= capacity());
    if (upstream.value > begin) {
      uint64_t available = upstream.value - begin;
      uint32_t count = static_cast<uint32_t>(available);
      if (max_batch != 0 && max_batch < available) count = max_batch;
      me.cursor = begin + count;
      me.holding = true;
      return StageGuard(this, stage, thread, begin, count);
    }
    if (!block) return StageGuard();
    wait_while(*upstream.position, upstream.value);
  }
}

template <class T>
void ThreadPipeline<T>::release(int stage, int thread, uint64_t end) {
  StageThread& me = stage_thread(stage, thread);
  WEASEL_ASSERT(me.holding && me.cursor == end);
  me.holding = false;
  advance(me.released, end);
}

template <class T>
size_t ThreadPipeline<T>::in_flight() const {
  // The last stage first: published_, read later, cannot be behind it.
  uint64_t oldest = slowest_of_stage(stage_count() - 1).value;
  uint64_t newest = published_.value.load(std::memory_order_acquire);
  return newest - oldest;
}

template <class T>
size_t ThreadPipeline<T>::queue_depth(int stage) const {
  WEASEL_ASSERT(stage >= 0 && stage < stage_count());
  uint64_t done = slowest_of_stage(stage).value;
  uint64_t arrived = slowest_upstream(stage).value;
  return arrived - done;
}

}  // namespace weasel
