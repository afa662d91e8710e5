#pragma once
// LatencyHistogram: a log-linear histogram of non-negative integers (nanoseconds here), in the
// shape of HdrHistogram.
//
// Contract: values below 2^kSubBucketBits are counted exactly; above that every power-of-two
// range is split into 2^(kSubBucketBits-1) equal sub-buckets, so a reported value is within
// 1/2^(kSubBucketBits-1) (0.39%) of a recorded one. Values at or above 2^kMaxValueBits
// (about 73 minutes in ns) land in the top bucket; min and max are kept exactly. The bucket
// array is allocated once by the constructor: record() never allocates, so a load generator
// can record every request. One owner per instance; merge() combines per-thread histograms.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace weasel::load {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 9;
  static constexpr int kMaxValueBits = 42;
  static constexpr uint64_t kMaxTrackable = (uint64_t{1} << kMaxValueBits) - 1;

  LatencyHistogram();

  void record(uint64_t value);
  void merge(const LatencyHistogram& other);
  void reset();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const;

  // The smallest bucket bound at or below which `percentile` percent (0..100) of the recorded
  // values lie: the bucket's highest equivalent value, never above max(). 0 when empty.
  uint64_t value_at_percentile(double percentile) const;

  // Exposed for tests: the bucket a value falls in, and the bucket's inclusive bounds.
  static size_t bucket_index(uint64_t value);
  static uint64_t bucket_low(size_t index);
  static uint64_t bucket_high(size_t index);
  static size_t bucket_count();

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  double sum_ = 0;  // a double cannot overflow on long runs; it only feeds mean()
};

}  // namespace weasel::load
