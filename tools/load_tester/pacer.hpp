#pragma once
// Pacer: the send schedule of one load thread in a rate-limited run (--rate).
//
// Contract: a Pacer built with rate 0 never holds a request back and take() returns the
// current time. With rate R > 0 started at time S, the k-th request (k = 0, 1, ...) is due
// at S + k / R: may_issue(now) says whether the next one is due, take(now) consumes it and
// returns the time it was due, and due_ns() says when the next one will be. A request sent
// late (every connection was busy) is still counted from its due time, as wrk2 does, so a
// server that cannot keep up shows as growing latency instead of quietly lowering the
// offered rate (no coordinated omission); the schedule then catches up as soon as
// connections free up. Due times are computed from k, not accumulated, so they do not drift.
// A value type with no clock of its own: the caller passes the time in, which is what lets
// the tests drive it.

#include <cmath>
#include <cstdint>

#include "core/assert.hpp"

namespace weasel::load {

class Pacer {
 public:
  Pacer() = default;
  Pacer(double rate_per_s, int64_t start_ns) : start_ns_(start_ns) {
    WEASEL_ASSERT(std::isfinite(rate_per_s) && rate_per_s >= 0);
    if (rate_per_s > 0) interval_ns_ = 1e9 / rate_per_s;
  }

  bool paced() const { return interval_ns_ > 0; }
  bool may_issue(int64_t now_ns) const { return !paced() || due_ns() <= now_ns; }

  // When the next request is due (INT64_MIN when not paced: always).
  int64_t due_ns() const {
    if (!paced()) return INT64_MIN;
    return start_ns_ + static_cast<int64_t>(std::llround(static_cast<double>(taken_) * interval_ns_));
  }

  // Consumes the next due request; call only when may_issue(now_ns).
  int64_t take(int64_t now_ns) {
    WEASEL_ASSERT(may_issue(now_ns));
    if (!paced()) return now_ns;
    const int64_t due = due_ns();
    ++taken_;
    return due;
  }

  uint64_t taken() const { return taken_; }

 private:
  int64_t start_ns_ = 0;
  double interval_ns_ = 0;  // 0: not paced
  uint64_t taken_ = 0;
};

}  // namespace weasel::load
