#include "api/http_metrics.hpp"

#include <string>

#include "core/assert.hpp"

namespace weasel {

HttpMetrics::HttpMetrics(MetricsRegistry& registry) : registry_(registry) {
  for (int r = 0; r < kRouteCount; ++r) {
    durations_[static_cast<size_t>(r)] = &registry_.histogram(
        "weaseldb_http_request_duration_seconds",
        "Time from a complete request to its response being queued, by route",
        default_latency_buckets_seconds(), {{"route", route_name(static_cast<Route>(r))}});
  }
}

Counter& HttpMetrics::counter_for(Route route, int status) {
  WEASEL_ASSERT(status >= 100 && status < kStatusSlots);
  auto& slot = counters_[static_cast<size_t>(route)][static_cast<size_t>(status)];
  Counter* c = slot.load(std::memory_order_acquire);
  if (c == nullptr) {
    // The registry returns the same counter for the same labels, so a race here is harmless.
    const std::string code = std::to_string(status);
    c = &registry_.counter("weaseldb_http_requests_total", "HTTP requests answered, by route and status code",
                           {{"route", route_name(route)}, {"code", code}});
    slot.store(c, std::memory_order_release);
  }
  return *c;
}

void HttpMetrics::record_status(Route route, int status) { counter_for(route, status).inc(); }

void HttpMetrics::record(Route route, int status, std::chrono::steady_clock::duration elapsed) {
  counter_for(route, status).inc();
  durations_[static_cast<size_t>(route)]->observe(std::chrono::duration<double>(elapsed).count());
}

}  // namespace weasel
