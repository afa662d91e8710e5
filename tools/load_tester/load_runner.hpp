#pragma once
// run_load: the core of the load tester, as a library function.
//
// Contract: run_load() opens `connections` non-blocking TCP connections (TCP_NODELAY) to the
// target, spread over `threads` threads that each run their own epoll loop, keeps up to
// `pipeline_depth` requests in flight on each, and returns when the run is over: after
// `duration_s` seconds of measurement, or once `requests` requests have finished (been
// answered or timed out), whichever is given and comes first. The `warmup_s` seconds before
// the measurement send load that is not counted. A request lost to a closed connection is
// sent again on a fresh one (so a fixed count always finishes with that many answers);
// reconnects and errors are counted. A connection that fails `max_consecutive_failures`
// times in a row (connect failures, or sessions that end without one answer) is given up;
// when all are, the run ends. With `rate_per_s` > 0 the run is paced: requests are sent on a
// fixed schedule of that many per second in total (see pacer.hpp; a connection sends only
// when a request is due, still at most `pipeline_depth` in flight) and latency is counted
// from each request's due time. Blocks the caller; owns every socket and thread it makes.

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "load_tester/histogram.hpp"
#include "load_tester/workload.hpp"

namespace weasel::load {

struct LoadOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  uint32_t connections = 16;
  uint32_t threads = 1;
  uint32_t pipeline_depth = 1;
  double duration_s = 0;  // 0: not bounded by time
  uint64_t requests = 0;  // 0: not bounded by count; at least one of the two is required
  double warmup_s = 0;
  double rate_per_s = 0;  // 0: as fast as the connections are answered (closed loop)
  // The default workload: this request on every connection.
  std::string method = "GET";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint32_t timeout_ms = 10'000;  // per request; the connection is then reopened
  uint32_t max_consecutive_failures = 10;
  uint32_t reconnect_delay_ms = 100;  // after a failed connect (not after a clean close)
  WorkloadFactory make_workload;      // empty: StaticHttpWorkload from the fields above
  ProtocolFactory make_protocol;      // empty: HttpProtocol
  std::string workload_name;          // for the report; empty: the static request above
};

// The Host header value for the target: "host:port", IPv6 literals bracketed.
std::string host_header_value(const LoadOptions& options);

// Empty when `options` can run; otherwise what is wrong, naming the option.
std::string validate_options(const LoadOptions& options);

struct ErrorCounts {
  uint64_t connect = 0;    // connect() failed
  uint64_t reset = 0;      // ECONNRESET / EPIPE
  uint64_t closed = 0;     // the peer closed with requests in flight
  uint64_t timeout = 0;    // no answer within timeout_ms
  uint64_t malformed = 0;  // a response the protocol could not delimit, or an unsolicited one
  uint64_t read = 0;       // other read errors
  uint64_t write = 0;      // other write errors

  uint64_t total() const { return connect + reset + closed + timeout + malformed + read + write; }
  void add(const ErrorCounts& other);
};

inline constexpr size_t kStatusCodeSlots = 600;  // [0] counts codes outside 100..599

struct LoadReport {
  std::string setup_error;  // non-empty: the run could not start (bad target, no epoll...)
  double elapsed_s = 0;     // the measured interval
  uint64_t requests = 0;    // final responses in the measured interval, any status
  uint64_t ok = 0;          // 2xx among them
  std::array<uint64_t, kStatusCodeSlots> status_counts{};
  ErrorCounts errors;
  uint64_t lost_requests = 0;   // sent but never answered: their connection closed first
  uint64_t reconnects = 0;      // successful connects after a connection's first
  LatencyHistogram latency_ns;  // one value per response in `requests`
  // Indexed by Outcome: what the workload made of each response in `requests`.
  std::array<uint64_t, kOutcomeCount> outcomes{};

  double requests_per_s() const { return per_s(requests); }
  uint64_t outcome(Outcome o) const { return outcomes[static_cast<size_t>(o)]; }
  // Successful transactions (Outcome::kSuccess) per second.
  double successes_per_s() const { return per_s(outcome(Outcome::kSuccess)); }

 private:
  double per_s(uint64_t count) const {
    return elapsed_s > 0 ? static_cast<double>(count) / elapsed_s : 0.0;
  }
};

LoadReport run_load(const LoadOptions& options);

}  // namespace weasel::load
