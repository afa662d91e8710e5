#include "load_tester/load_runner.hpp"

#include <climits>
#include <cmath>
#include <cstring>
#include <thread>

#include "core/assert.hpp"
#include "load_tester/load_thread.hpp"

namespace weasel::load {
namespace {

bool has_control_or_space(std::string_view s) {
  for (char ch : s) {
    if (static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f) return true;
  }
  return false;
}

bool has_line_break(std::string_view s) {
  return s.find('\r') != std::string_view::npos || s.find('\n') != std::string_view::npos;
}

// Fills in the default workload and protocol. The factories capture `options` by reference:
// it outlives every LoadThread, which run_load() destroys before returning.
void complete_defaults(LoadOptions& options) {
  if (!options.make_protocol) {
    options.make_protocol = [] { return std::make_unique<HttpProtocol>(); };
  }
  if (!options.make_workload) {
    options.make_workload = [&options, host = host_header_value(options)](uint32_t) {
      std::vector<HttpHeader> headers;
      for (const auto& [name, value] : options.headers) headers.push_back({name, value});
      return std::make_unique<StaticHttpWorkload>(options.method, options.path, host, headers,
                                                  options.body);
    };
  }
}

// Splits connections (and the request count) evenly over the threads that get any.
std::vector<ThreadPlan> make_plans(const LoadOptions& options) {
  uint32_t threads = std::min(options.threads, options.connections);
  if (options.requests > 0)
    threads = static_cast<uint32_t>(std::min<uint64_t>(threads, options.requests));
  std::vector<ThreadPlan> plans(threads);
  uint32_t next_connection = 0;
  for (uint32_t t = 0; t < threads; ++t) {
    ThreadPlan& plan = plans[t];
    plan.thread_index = t;
    plan.first_connection = next_connection;
    plan.connection_count = options.connections / threads + (t < options.connections % threads);
    next_connection += plan.connection_count;
    plan.bounded_by_count = options.requests > 0;
    plan.request_budget = options.requests / threads + (t < options.requests % threads);
    plan.rate_per_s = options.rate_per_s * plan.connection_count / options.connections;
  }
  WEASEL_ASSERT(next_connection == options.connections);
  return plans;
}

int64_t seconds_to_ns(double seconds) {
  return static_cast<int64_t>(std::llround(seconds * 1e9));
}

}  // namespace

std::string host_header_value(const LoadOptions& options) {
  const bool ipv6_literal = options.host.find(':') != std::string::npos;
  std::string host = ipv6_literal ? "[" + options.host + "]" : options.host;
  return host + ":" + std::to_string(options.port);
}

void ErrorCounts::add(const ErrorCounts& other) {
  connect += other.connect;
  reset += other.reset;
  closed += other.closed;
  timeout += other.timeout;
  malformed += other.malformed;
  read += other.read;
  write += other.write;
}

std::string validate_options(const LoadOptions& o) {
  if (o.host.empty() || o.port == 0) return "--target: HOST:PORT with a non-zero port is required";
  if (o.connections < 1 || o.connections > 1'000'000) return "--connections: 1..1000000";
  if (o.threads < 1 || o.threads > 1024) return "--threads: 1..1024";
  if (o.pipeline_depth < 1 || o.pipeline_depth > 65536) return "--pipeline: 1..65536";
  if (!std::isfinite(o.duration_s) || o.duration_s < 0 || o.duration_s > 1e6) {
    return "--duration: 0..1000000 seconds";
  }
  if (o.duration_s == 0 && o.requests == 0) return "one of --duration or --requests is required";
  if (!std::isfinite(o.warmup_s) || o.warmup_s < 0 || o.warmup_s > 1e6) {
    return "--warmup: 0..1000000 seconds";
  }
  if (!std::isfinite(o.rate_per_s) || o.rate_per_s < 0 || o.rate_per_s > 1e9) {
    return "--rate: 0..1000000000 requests per second";
  }
  if (o.timeout_ms == 0) return "--timeout-ms: must be positive";
  if (o.max_consecutive_failures == 0) return "max_consecutive_failures: must be positive";
  if (o.method.empty() || has_control_or_space(o.method)) return "--method: one token";
  if (o.path.empty() || has_control_or_space(o.path)) return "--path: no spaces or controls";
  for (const auto& [name, value] : o.headers) {
    if (name.empty() || has_control_or_space(name) || name.find(':') != std::string::npos) {
      return "--header: bad name '" + name + "'";
    }
    if (has_line_break(value)) return "--header: line break in the value of " + name;
  }
  return {};
}

LoadReport run_load(const LoadOptions& input) {
  LoadReport report;
  report.setup_error = validate_options(input);
  if (!report.setup_error.empty()) return report;
  LoadOptions options = input;
  complete_defaults(options);
  TargetAddress target;
  report.setup_error = resolve_target(options.host, options.port, target);
  if (!report.setup_error.empty()) return report;

  // Every thread's buffers are allocated before the clock starts.
  std::vector<std::unique_ptr<LoadThread>> load_threads;
  for (const ThreadPlan& plan : make_plans(options)) {
    load_threads.push_back(std::make_unique<LoadThread>(options, target, plan));
  }
  const int64_t measure_start_ns = monotonic_now_ns() + seconds_to_ns(options.warmup_s);
  const int64_t deadline_ns =
      options.duration_s > 0 ? measure_start_ns + seconds_to_ns(options.duration_s) : INT64_MAX;
  std::vector<std::thread> threads;
  for (auto& load_thread : load_threads) {
    threads.emplace_back([&load_thread, measure_start_ns, deadline_ns] {
      load_thread->run(measure_start_ns, deadline_ns);
    });
  }
  for (std::thread& thread : threads) thread.join();

  int64_t end_ns = measure_start_ns;
  for (auto& load_thread : load_threads) {
    ThreadResult& r = load_thread->result();
    if (report.setup_error.empty()) report.setup_error = r.setup_error;
    report.requests += r.requests;
    report.ok += r.ok;
    for (size_t i = 0; i < kStatusCodeSlots; ++i) report.status_counts[i] += r.status_counts[i];
    report.errors.add(r.errors);
    report.lost_requests += r.lost_requests;
    report.reconnects += r.reconnects;
    report.latency_ns.merge(r.latency_ns);
    for (size_t i = 0; i < kOutcomeCount; ++i) report.outcomes[i] += r.outcomes[i];
    end_ns = std::max(end_ns, r.end_ns);
  }
  report.elapsed_s = static_cast<double>(end_ns - measure_start_ns) / 1e9;
  WEASEL_ASSERT(report.latency_ns.count() == report.requests);
  return report;
}

}  // namespace weasel::load
