#pragma once
// Prometheus metrics: Counter, Gauge, Histogram and the MetricsRegistry that owns them and
// renders them in the Prometheus text exposition format 0.0.4.
//
// Ownership: the registry owns every metric it hands out; the references it returns stay
// valid for the registry's lifetime, so a component registers its metrics once (at start-up
// or lazily) and keeps the references. Registration takes a mutex and allocates: it is not
// for the hot path.
//
// Hot path: Counter::inc and Histogram::observe are wait-free and allocation-free. Their
// cells are sharded per thread: each thread takes a shard slot on first use (a thread_local
// index). Up to kExclusiveSlots threads at a time own a slot alone and update it with a plain
// relaxed load + store (no locked instruction); a thread's slot returns to the pool when the
// thread exits. Further threads share kSharedSlots slots with atomic read-modify-writes. Every
// update lands in exactly one cell, so totals are exact. Readers (value(), render) sum the
// shards with relaxed loads: a scrape sees each update either entirely or not at all, but a
// histogram's _sum may lag its _count by the observations in flight.
//
// Gauges are not sharded (set() needs one cell). Callback gauges are sampled at scrape time.
//
// Thread safety: every member function of every class here may be called from any thread.

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace weasel {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

namespace metrics_detail {

inline constexpr uint32_t kExclusiveSlots = 12;
inline constexpr uint32_t kSharedSlots = 4;
inline constexpr uint32_t kShards = kExclusiveSlots + kSharedSlots;
inline constexpr uint32_t kNoSlot = UINT32_MAX;
inline constexpr size_t kCacheLineBytes = 64;

struct ThreadSlot {
  uint32_t index;
  bool exclusive;  // true: no other thread writes this slot's cells
};

// The calling thread's slot; trivially destructible so the hot path reads it directly.
inline constinit thread_local ThreadSlot tls_slot = {kNoSlot, false};

// Slow path of thread_slot(): assigns the calling thread its slot.
ThreadSlot acquire_thread_slot();

inline ThreadSlot thread_slot() {
  ThreadSlot slot = tls_slot;
  if (slot.index == kNoSlot) [[unlikely]]
    slot = acquire_thread_slot();
  return slot;
}

inline void add(std::atomic<uint64_t>& cell, uint64_t n, bool exclusive) {
  if (exclusive) {
    cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  } else {
    cell.fetch_add(n, std::memory_order_relaxed);
  }
}

// A double stored as its bit pattern, so that it shares the cache-line layout of the counts.
inline void add_double(std::atomic<uint64_t>& cell, double d, bool exclusive) {
  uint64_t old_bits = cell.load(std::memory_order_relaxed);
  if (exclusive) {
    cell.store(std::bit_cast<uint64_t>(std::bit_cast<double>(old_bits) + d),
               std::memory_order_relaxed);
    return;
  }
  while (!cell.compare_exchange_weak(old_bits,
                                     std::bit_cast<uint64_t>(std::bit_cast<double>(old_bits) + d),
                                     std::memory_order_relaxed)) {
  }
}

struct alignas(kCacheLineBytes) CacheLine {
  static constexpr size_t kWords = kCacheLineBytes / sizeof(uint64_t);
  std::atomic<uint64_t> words[kWords] = {};
};

}  // namespace metrics_detail

// A monotonically increasing count. Name must end in "_total".
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void inc(uint64_t n = 1) {
    metrics_detail::ThreadSlot slot = metrics_detail::thread_slot();
    metrics_detail::add(shards_[slot.index].words[0], n, slot.exclusive);
  }
  uint64_t value() const;

 private:
  std::array<metrics_detail::CacheLine, metrics_detail::kShards> shards_;
};

// A value that goes up and down. set() and add() are single atomic operations.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_ = 0.0;
};

// Counts observations into buckets with the given upper bounds (inclusive, as Prometheus's
// "le"), plus an implicit +Inf bucket, and sums them. NaN lands in +Inf (as in the Go client).
class Histogram {
 public:
  // `upper_bounds`: finite and strictly increasing (asserted). Copied.
  explicit Histogram(std::span<const double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe(double v) {
    size_t bucket = bucket_index(v);
    metrics_detail::ThreadSlot slot = metrics_detail::thread_slot();
    size_t base = slot.index * stride_words_;
    metrics_detail::add(word(base + bucket), 1, slot.exclusive);
    metrics_detail::add_double(word(base + sum_word()), v, slot.exclusive);
  }
  uint64_t count() const;
  double sum() const;
  std::span<const double> upper_bounds() const { return upper_bounds_; }
  // Observations per bucket (not cumulative), summed over shards; the last is +Inf.
  void bucket_counts(std::vector<uint64_t>& out) const;

 private:
  size_t bucket_index(double v) const;
  size_t sum_word() const { return upper_bounds_.size() + 1; }
  std::atomic<uint64_t>& word(size_t i) const {
    return lines_[i / metrics_detail::CacheLine::kWords]
        .words[i % metrics_detail::CacheLine::kWords];
  }

  std::vector<double> upper_bounds_;
  // Per shard: one count per bucket (including +Inf), then the sum; padded to whole
  // cache lines so that shards never share a line.
  size_t stride_words_;
  std::unique_ptr<metrics_detail::CacheLine[]> lines_;
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Each returns the metric for (name, labels), creating it on first call. Asserted: name
  // is lowercase [a-z_][a-z0-9_]* (counters end in "_total", other types must not); help is
  // non-empty and equal on every call for a name; one type per name; every child of a
  // family has the same label names in the same order; label names are
  // [a-zA-Z_][a-zA-Z0-9_]*, not "__"-prefixed, not "le", not repeated; label values are
  // UTF-8 (escaped on output). Families and children render in registration order.
  Counter& counter(std::string_view name, std::string_view help, Labels labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, Labels labels = {});
  // Every child of a histogram family has the same upper bounds.
  Histogram& histogram(std::string_view name, std::string_view help,
                       std::span<const double> upper_bounds, Labels labels = {});

  // A gauge whose value is fn() at scrape time (e.g. connection count, queue depth).
  // Registering the same name+labels twice is a bug (asserted). `fn` is called from render()
  // with the registry's mutex held: it must stay callable for the registry's lifetime, must
  // be thread-safe, and must not call into the registry.
  void gauge_callback(std::string_view name, std::string_view help, Labels labels,
                      std::function<double()> fn);

  // Appends the full exposition text (text/plain; version=0.0.4).
  void render(std::string& out) const;

 private:
  struct Family;
  struct Child;
  enum class Type { kCounter, kGauge, kHistogram };

  Family& family_locked(std::string_view name, std::string_view help, Type type, Labels labels,
                        std::span<const double> upper_bounds);
  Child& child_locked(Family& family, Labels labels, bool& created);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;                   // registration order
  std::unordered_map<std::string_view, Family*> families_by_name_;  // keys owned by Family
};

// Upper bounds for request latencies: 50 us .. 10 s.
std::span<const double> default_latency_buckets_seconds();

}  // namespace weasel
