#include "load_tester/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

#include "core/assert.hpp"

namespace weasel::load {
namespace {

constexpr uint64_t kExactLimit = uint64_t{1} << LatencyHistogram::kSubBucketBits;
constexpr uint64_t kSubBuckets = kExactLimit / 2;  // per power of two above kExactLimit

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(bucket_count(), 0) {}

size_t LatencyHistogram::bucket_count() {
  return kExactLimit + (kMaxValueBits - kSubBucketBits) * kSubBuckets;
}

size_t LatencyHistogram::bucket_index(uint64_t value) {
  value = std::min(value, kMaxTrackable);
  if (value < kExactLimit) return value;
  const int msb = 63 - std::countl_zero(value);
  const int shift = msb - (kSubBucketBits - 1);  // >= 1: keeps kSubBucketBits-1 bits after msb
  const uint64_t top = value >> shift;           // in [kSubBuckets, 2 * kSubBuckets)
  const size_t index = kExactLimit + (shift - 1) * kSubBuckets + (top - kSubBuckets);
  WEASEL_ASSERT(index < bucket_count());
  return index;
}

uint64_t LatencyHistogram::bucket_low(size_t index) {
  WEASEL_ASSERT(index < bucket_count());
  if (index < kExactLimit) return index;
  const size_t k = index - kExactLimit;
  const int shift = static_cast<int>(k / kSubBuckets) + 1;
  const uint64_t top = kSubBuckets + k % kSubBuckets;
  return top << shift;
}

uint64_t LatencyHistogram::bucket_high(size_t index) {
  WEASEL_ASSERT(index < bucket_count());
  if (index < kExactLimit) return index;
  const size_t k = index - kExactLimit;
  const int shift = static_cast<int>(k / kSubBuckets) + 1;
  const uint64_t top = kSubBuckets + k % kSubBuckets;
  return ((top + 1) << shift) - 1;
}

void LatencyHistogram::record(uint64_t value) {
  counts_[bucket_index(value)] += 1;
  count_ += 1;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<double>(value);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  WEASEL_ASSERT(counts_.size() == other.counts_.size());
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void LatencyHistogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0;
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_);
}

uint64_t LatencyHistogram::value_at_percentile(double percentile) const {
  WEASEL_ASSERT(percentile >= 0.0 && percentile <= 100.0);
  if (count_ == 0) return 0;
  // The rank of the wanted value, 1-based: p50 of {1, 2} is 1, p100 is the max. The factor
  // below 1 keeps a product such as 99.9% * 1000 = 999.0000000000001 from ceiling to 1000.
  const double exact_rank =
      std::ceil(percentile / 100.0 * static_cast<double>(count_) * (1.0 - 1e-12));
  const uint64_t rank = std::clamp<uint64_t>(static_cast<uint64_t>(exact_rank), 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(bucket_high(i), max_);
  }
  WEASEL_ASSERT_MSG(false, "bucket counts do not add up to count()");
  return max_;
}

}  // namespace weasel::load
