#include "storage/rate_limiter.hpp"

#include <algorithm>
#include <chrono>

#include "core/assert.hpp"

namespace weaseldb::storage {

namespace {

constexpr uint64_t kMicrosPerSec = 1000000;

}  // namespace

RateLimiter::RateLimiter(uint64_t bytes_per_sec, Clock clock)
    : bytes_per_sec_(bytes_per_sec),
      burst_bytes_(std::max<uint64_t>(1, bytes_per_sec / 10)),
      clock_(std::move(clock)) {
  WEASEL_ASSERT(bytes_per_sec_ > 0);
}

uint64_t RateLimiter::steady_micros() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

uint64_t RateLimiter::take(uint64_t bytes, uint64_t now_us) {
  std::lock_guard lock(mu_);
  const __int128 burst = static_cast<__int128>(burst_bytes_) * kMicrosPerSec;
  if (!started_) {
    started_ = true;
    last_us_ = now_us;
    tokens_scaled_ = burst;  // a new bucket starts full
  }
  if (now_us > last_us_) {
    tokens_scaled_ += static_cast<__int128>(now_us - last_us_) * bytes_per_sec_;
    tokens_scaled_ = std::min(tokens_scaled_, burst);
    last_us_ = now_us;
  }
  tokens_scaled_ -= static_cast<__int128>(bytes) * kMicrosPerSec;
  if (tokens_scaled_ >= 0) return 0;
  // Debt / rate, rounded up: the refill that brings the bucket back to zero.
  __int128 debt = -tokens_scaled_;
  return static_cast<uint64_t>((debt + bytes_per_sec_ - 1) / bytes_per_sec_);
}

uint64_t RateLimiter::request(uint64_t bytes) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return 0;
  }
  uint64_t start = clock_();
  uint64_t wait_us = take(bytes, start);
  if (wait_us == 0) return 0;
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::microseconds(wait_us), [&] {
    return closed_ || clock_() >= start + wait_us;
  });
  uint64_t waited = std::min(clock_() - start, wait_us);
  waited_micros_.fetch_add(waited, std::memory_order_relaxed);
  return waited;
}

void RateLimiter::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

}  // namespace weaseldb::storage
