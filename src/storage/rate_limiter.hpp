#pragma once
// RateLimiter: a token bucket that paces compaction writes
// (Options::compaction_rate_limit_bytes_per_sec), so background merging leaves disk
// bandwidth to foreground writes and reads.
//
// Contract
// - The bucket refills at `bytes_per_sec` and holds at most `burst_bytes` (100 ms worth, at
//   least 1 byte). take(bytes, now) always grants the request but may leave the bucket in
//   debt; it returns how long the caller must wait (microseconds) before writing, which is
//   the time the refill needs to pay the debt. Large requests are thus never starved and
//   the long-run rate is exact.
// - request(bytes) is take() at the clock's now plus the wait, on a condition variable that
//   close() interrupts. After close() nothing waits (the limit is lifted), so that close()
//   of a DB never waits on a slow compaction's pacing.
// - The clock is injectable (microseconds, monotonic) so the accounting is testable without
//   sleeping.
// - Thread-safe.
//
// RateLimitedFile: a WritableFile that asks the limiter before each append.
//
// Ownership: the limiter must outlive the files that use it; RateLimitedFile owns the file
// it wraps.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "storage/file.hpp"

namespace weaseldb::storage {

class RateLimiter {
 public:
  using Clock = std::function<uint64_t()>;  // microseconds, never decreasing

  // `bytes_per_sec` > 0.
  explicit RateLimiter(uint64_t bytes_per_sec, Clock clock = steady_micros);

  // Accounts `bytes` at time `now_us`; the microseconds to wait before writing them.
  uint64_t take(uint64_t bytes, uint64_t now_us);
  // take() at the clock's now, then waits (unless closed). Returns the microseconds waited.
  uint64_t request(uint64_t bytes);
  // Wakes every waiter; later requests do not wait.
  void close();

  uint64_t bytes_per_sec() const { return bytes_per_sec_; }
  uint64_t burst_bytes() const { return burst_bytes_; }
  uint64_t waited_micros() const { return waited_micros_.load(std::memory_order_relaxed); }

  static uint64_t steady_micros();

 private:
  const uint64_t bytes_per_sec_;
  const uint64_t burst_bytes_;
  const Clock clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  bool started_ = false;
  uint64_t last_us_ = 0;
  // Tokens in the bucket (negative: debt), in bytes * 1e6 so that refills of less than a
  // byte per microsecond are not rounded away.
  __int128 tokens_scaled_ = 0;
  std::atomic<uint64_t> waited_micros_{0};
};

class RateLimitedFile final : public WritableFile {
 public:
  RateLimitedFile(std::unique_ptr<WritableFile> file, RateLimiter* limiter)
      : file_(std::move(file)), limiter_(limiter) {}

  Status append(std::string_view bytes) override {
    limiter_->request(bytes.size());
    return file_->append(bytes);
  }
  Status flush() override { return file_->flush(); }
  Status sync() override { return file_->sync(); }
  Status close() override { return file_->close(); }
  uint64_t size() const override { return file_->size(); }

 private:
  std::unique_ptr<WritableFile> file_;
  RateLimiter* limiter_;
};

}  // namespace weaseldb::storage
