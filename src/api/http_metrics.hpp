#pragma once
// The HTTP metrics of SPEC section 7: weaseldb_http_requests_total{route,code} and
// weaseldb_http_request_duration_seconds{route}. Counters for each (route, code) pair are
// registered on first use and cached, so recording is lock-free after warm-up.

#include <array>
#include <atomic>
#include <chrono>

#include "api/routes.hpp"
#include "metrics/metrics.hpp"

namespace weasel {

class HttpMetrics {
 public:
  explicit HttpMetrics(MetricsRegistry& registry);
  void record(Route route, int status, std::chrono::steady_clock::duration elapsed);
  void record_status(Route route, int status);

 private:
  static constexpr int kStatusSlots = 600;  // HTTP status codes are 100..599
  Counter& counter_for(Route route, int status);

  MetricsRegistry& registry_;
  std::array<std::array<std::atomic<Counter*>, kStatusSlots>, kRouteCount> counters_{};
  std::array<Histogram*, kRouteCount> durations_{};
};

}  // namespace weasel
