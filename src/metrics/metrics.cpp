#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>

#include "core/assert.hpp"
#include "metrics/metrics.hpp"

namespace weasel {
namespace metrics_detail {
namespace {

// Exclusive slots free for the taking. LIFO, so a thread that replaces one that exited
// reuses its (cache-warm) slot.
class SlotPool {
 public:
  SlotPool() {
    for (uint32_t i = kExclusiveSlots; i > 0; --i) free_.push_back(i - 1);
  }

  std::optional<uint32_t> acquire() {
    std::lock_guard lock(mutex_);
    if (free_.empty()) return std::nullopt;
    uint32_t slot = free_.back();
    free_.pop_back();
    return slot;
  }

  // The mutex orders the previous owner's last plain store before the next owner's first
  // load, which is what makes the exclusive load + store update exact across owners.
  void release(uint32_t slot) {
    WEASEL_ASSERT(slot < kExclusiveSlots);
    std::lock_guard lock(mutex_);
    WEASEL_ASSERT(std::find(free_.begin(), free_.end(), slot) == free_.end());
    free_.push_back(slot);
  }

  uint32_t next_shared() {
    return kExclusiveSlots +
           shared_round_robin_.fetch_add(1, std::memory_order_relaxed) % kSharedSlots;
  }

 private:
  std::mutex mutex_;
  std::vector<uint32_t> free_;
  std::atomic<uint32_t> shared_round_robin_ = 0;
};

SlotPool& slot_pool() {
  // Never destroyed: threads may exit (and return their slot) after static destruction.
  static SlotPool* pool = new SlotPool;
  return *pool;
}

// Returns the thread's exclusive slot to the pool when the thread exits.
struct SlotLease {
  uint32_t index = kNoSlot;
  ~SlotLease() {
    if (index == kNoSlot) return;
    // Metrics touched later in this thread's teardown go to a shared slot.
    tls_slot = {slot_pool().next_shared(), false};
    slot_pool().release(index);
  }
};

thread_local SlotLease lease;

}  // namespace

ThreadSlot acquire_thread_slot() {
  WEASEL_ASSERT(tls_slot.index == kNoSlot);
  if (std::optional<uint32_t> slot = slot_pool().acquire()) {
    lease.index = *slot;
    tls_slot = {*slot, true};
  } else {
    tls_slot = {slot_pool().next_shared(), false};
  }
  return tls_slot;
}

}  // namespace metrics_detail

uint64_t Counter::value() const {
  uint64_t total = 0;
  for (const metrics_detail::CacheLine& shard : shards_) {
    total += shard.words[0].load(std::memory_order_relaxed);
  }
  return total;
}

Histogram::Histogram(std::span<const double> upper_bounds)
    : upper_bounds_(upper_bounds.begin(), upper_bounds.end()) {
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    WEASEL_ASSERT_MSG(std::isfinite(upper_bounds_[i]), "histogram bounds must be finite");
    WEASEL_ASSERT_MSG(i == 0 || upper_bounds_[i - 1] < upper_bounds_[i],
                      "histogram bounds must be strictly increasing");
  }
  constexpr size_t kWords = metrics_detail::CacheLine::kWords;
  size_t words = upper_bounds_.size() + 2;  // buckets, +Inf, sum
  stride_words_ = (words + kWords - 1) / kWords * kWords;
  lines_ = std::make_unique<metrics_detail::CacheLine[]>(stride_words_ / kWords *
                                                         metrics_detail::kShards);
}

size_t Histogram::bucket_index(double v) const {
  // First bound with v <= bound; NaN satisfies no bound and lands in +Inf.
  auto it = std::partition_point(upper_bounds_.begin(), upper_bounds_.end(),
                                 [v](double bound) { return !(v <= bound); });
  return static_cast<size_t>(it - upper_bounds_.begin());
}

void Histogram::bucket_counts(std::vector<uint64_t>& out) const {
  out.assign(upper_bounds_.size() + 1, 0);
  for (size_t shard = 0; shard < metrics_detail::kShards; ++shard) {
    size_t base = shard * stride_words_;
    for (size_t i = 0; i < out.size(); ++i) {
      out[i] += word(base + i).load(std::memory_order_relaxed);
    }
  }
}

uint64_t Histogram::count() const {
  std::vector<uint64_t> counts;
  bucket_counts(counts);
  uint64_t total = 0;
  for (uint64_t n : counts) total += n;
  return total;
}

double Histogram::sum() const {
  double total = 0;
  for (size_t shard = 0; shard < metrics_detail::kShards; ++shard) {
    uint64_t bits = word(shard * stride_words_ + sum_word()).load(std::memory_order_relaxed);
    total += std::bit_cast<double>(bits);
  }
  return total;
}

std::span<const double> default_latency_buckets_seconds() {
  static constexpr double kBounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                       0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                       0.5,     1,      2.5,     5,      10};
  return kBounds;
}

}  // namespace weasel
