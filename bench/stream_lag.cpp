// stream_lag: change-stream delivery lag and its cost to commits, weaseldb or etcd.
//
// One process, one clock. Mode `lag` (the default): S subscribers (bench/stream_lag_client:
// weaseldb GET /v1/subscribe, or etcd POST /v3/watch over the whole key space) are opened on
// one thread and must all be live before a closed-loop commit load starts on another thread
// (tools/load_tester's run_load with the weasel-commit or etcd-txn workload: one point-read
// precondition or mod_revision compare plus one write, C connections). Each successful commit
// answer's version (weaseldb `version`, etcd header.revision) is stamped with the time the
// committing client read it; each event a subscriber reads (weaseldb `id:`, etcd
// kv.mod_revision) with the time it was read. Lag = receive time - acknowledgement time, per
// subscriber and version, for commits acknowledged inside the measured window (after the
// warm-up). An event read before its commit's answer has lag <= 0: it is counted as 0 and in
// `before_ack`. After the load, the subscribers drain until every stream has passed the last
// acknowledged version (bounded by --drain-timeout-s); deliveries still missing are reported.
// With --subscribers 0 the same load runs alone: the baseline for the throughput cost.
// Mode `hold`: opens the subscribers (optionally stalled: --no-read, small --rcvbuf), prints
// `ready ...` once all are live (or requested, when stalled) and holds them until stdin
// reaches EOF, then prints `done ...`. bench/stream_memory.sh drives it.
//
// Output: a human summary, or with --json one line (keys: see print_json()).
// Exit status: 0 when the run completed with every subscriber ready, 1 otherwise, 2 on usage.

#include <poll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/json_escape.hpp"
#include "load_tester/commit_workloads.hpp"
#include "load_tester/http_protocol.hpp"
#include "load_tester/load_runner.hpp"
#include "load_tester/load_thread.hpp"
#include "load_tester/workload_setup.hpp"
#include "stream_lag_acks.hpp"
#include "stream_lag_client.hpp"

namespace {

using namespace weasel;
using weasel::bench::StreamKind;

struct Options {
  std::string mode = "lag";
  StreamKind kind = StreamKind::kWeasel;
  std::string host;
  uint16_t port = 0;
  uint32_t subscribers = 100;
  uint32_t connections = 64;
  uint32_t threads = 1;
  double duration_s = 10;
  double warmup_s = 2;
  double rate_per_s = 0;  // 0: closed loop (as fast as answers come)
  uint64_t keys = 1'000'000;
  uint64_t max_versions = uint64_t{4} << 20;
  uint64_t max_pending = uint64_t{1} << 20;
  uint32_t ready_timeout_s = 30;
  uint32_t drain_timeout_s = 10;
  uint32_t concurrency = 128;
  int rcvbuf_bytes = 0;
  bool read_stream = true;
  std::string query;
  bool json = false;
};

constexpr const char* kUsage =
    "usage: stream_lag --target HOST:PORT [--system weaseldb|etcd] [--mode lag|hold]\n"
    "  [--subscribers N] [--connections C] [--threads T] [--duration S] [--warmup S]\n"
    "  [--rate COMMITS_PER_S] [--keys N] [--max-versions N] [--max-pending N] [--ready-timeout-s S]\n"
    "  [--drain-timeout-s S] [--concurrency N] [--rcvbuf BYTES] [--no-read] [--query Q]\n"
    "  [--json]\n";

template <class T>
bool parse_number(std::string_view text, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Empty on success, else what is wrong.
std::string parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view name = argv[i];
    if (name == "--no-read") {
      o.read_stream = false;
      continue;
    }
    if (name == "--json") {
      o.json = true;
      continue;
    }
    if (i + 1 >= argc) return fmt::format("{}: missing value", name);
    const std::string_view value = argv[++i];
    bool ok = true;
    if (name == "--target") {
      const size_t colon = value.rfind(':');
      ok = colon != std::string_view::npos && colon > 0 &&
           parse_number(value.substr(colon + 1), o.port) && o.port > 0;
      if (ok) o.host.assign(value.substr(0, colon));
    } else if (name == "--system") {
      ok = value == "weaseldb" || value == "etcd";
      o.kind = value == "etcd" ? StreamKind::kEtcd : StreamKind::kWeasel;
    } else if (name == "--mode") {
      ok = value == "lag" || value == "hold";
      o.mode.assign(value);
    } else if (name == "--subscribers") {
      ok = parse_number(value, o.subscribers) && o.subscribers <= 100'000;
    } else if (name == "--connections") {
      ok = parse_number(value, o.connections) && o.connections > 0;
    } else if (name == "--threads") {
      ok = parse_number(value, o.threads) && o.threads > 0;
    } else if (name == "--duration") {
      ok = parse_number(value, o.duration_s) && o.duration_s > 0;
    } else if (name == "--warmup") {
      ok = parse_number(value, o.warmup_s) && o.warmup_s >= 0;
    } else if (name == "--rate") {
      ok = parse_number(value, o.rate_per_s) && o.rate_per_s >= 0 && o.rate_per_s <= 1e7;
    } else if (name == "--keys") {
      ok = parse_number(value, o.keys) && o.keys > 0;
    } else if (name == "--max-versions") {
      ok = parse_number(value, o.max_versions) && o.max_versions > 0 &&
           o.max_versions <= (uint64_t{1} << 30);
    } else if (name == "--max-pending") {
      ok = parse_number(value, o.max_pending) && o.max_pending <= (uint64_t{1} << 28);
    } else if (name == "--ready-timeout-s") {
      ok = parse_number(value, o.ready_timeout_s) && o.ready_timeout_s > 0;
    } else if (name == "--drain-timeout-s") {
      ok = parse_number(value, o.drain_timeout_s) && o.drain_timeout_s > 0;
    } else if (name == "--concurrency") {
      ok = parse_number(value, o.concurrency) && o.concurrency > 0;
    } else if (name == "--rcvbuf") {
      ok = parse_number(value, o.rcvbuf_bytes) && o.rcvbuf_bytes >= 0;
    } else if (name == "--query") {
      o.query.assign(value);
    } else {
      return fmt::format("unknown option {}", name);
    }
    if (!ok) return fmt::format("{}: bad value '{}'", name, value);
  }
  if (o.host.empty()) return "--target is required";
  if (o.mode == "hold" && o.subscribers == 0) return "--mode hold needs --subscribers >= 1";
  if (o.mode == "lag" && !o.read_stream) return "--no-read is for --mode hold";
  return {};
}

int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

bench::SubscriberSetOptions subscriber_options(const Options& o) {
  bench::SubscriberSetOptions s;
  s.kind = o.kind;
  s.host = o.host;
  s.port = o.port;
  s.count = o.subscribers;
  s.connect_concurrency = o.concurrency;
  s.rcvbuf_bytes = o.rcvbuf_bytes;
  s.read_stream = o.read_stream;
  s.weasel_query = o.query;
  return s;
}

// The target's latest version now: a lower bound of every version the run will commit.
std::string fetch_version(const Options& o, uint64_t& version) {
  load::ByteBuffer request(512);
  const std::string host = fmt::format("{}:{}", o.host, o.port);
  const load::HttpHeader json[] = {{"Content-Type", "application/json"}};
  if (o.kind == StreamKind::kWeasel) {
    load::frame_http_request(request, "GET", "/v1/version", host, {}, "");
  } else {
    load::frame_http_request(request, "POST", "/v3/kv/range", host, json,
                             R"({"key":"AA==","range_end":"AA==","count_only":true})");
  }
  const load::HttpProtocol protocol;
  const load::ExchangeResult r = load::exchange_once(o.host, o.port, request.view(), protocol, 5000);
  if (!r.error.empty()) return r.error;
  const auto v = load::find_json_uint(r.body, o.kind == StreamKind::kWeasel ? "version" : "revision");
  if (r.status_code != 200 || !v) return fmt::format("version lookup: {} {}", r.status_code, r.body);
  version = *v;
  return {};
}

// ---- the subscriber thread -------------------------------------------------------------

struct SubscriberRun {
  std::promise<std::string> ready;  // empty: every subscriber is live
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> drain_to{0};  // set before stop
  bench::SubscriberStats stats;
  int64_t cpu_ns = 0;   // the thread's CPU time from ready to the end of the drain
  int64_t wall_ns = 0;  // the same interval
  bool drained = false;
};

void run_subscribers(const Options& o, bench::LagRecorder& recorder, SubscriberRun& run) {
  bench::SubscriberSet set(subscriber_options(o), &recorder);
  if (std::string error = set.start(); !error.empty()) return run.ready.set_value(error);
  const int64_t ready_deadline = load::monotonic_now_ns() + int64_t{o.ready_timeout_s} * 1'000'000'000;
  while (!set.settled() && load::monotonic_now_ns() < ready_deadline) set.poll(10);
  if (set.stats().ready < o.subscribers) {
    run.stats = set.stats();
    return run.ready.set_value(fmt::format("{} of {} subscribers live ({} failed): {}",
                                           set.stats().ready, o.subscribers, set.stats().failed,
                                           set.stats().first_error));
  }
  const int64_t cpu0 = thread_cpu_ns();
  const int64_t wall0 = load::monotonic_now_ns();
  run.ready.set_value({});
  // The timeout only bounds how soon `stop` is seen; events wake epoll_wait at once.
  while (!run.stop.load(std::memory_order_acquire)) {
    set.poll(2);
    recorder.resolve_pending(false);
  }
  const uint64_t target = run.drain_to.load(std::memory_order_acquire);
  const int64_t drain_deadline = load::monotonic_now_ns() + int64_t{o.drain_timeout_s} * 1'000'000'000;
  while (set.min_live_version() < target && load::monotonic_now_ns() < drain_deadline) {
    set.poll(2);
    recorder.resolve_pending(false);
  }
  recorder.resolve_pending(true);
  run.drained = set.min_live_version() >= target && set.stats().failed == 0;
  run.cpu_ns = thread_cpu_ns() - cpu0;
  run.wall_ns = load::monotonic_now_ns() - wall0;
  run.stats = set.stats();
}

// ---- lag mode ----------------------------------------------------------------------------

void print_text(const Options& o, const load::LoadReport& r, const bench::LagSummary& lag,
                const SubscriberRun& run) {
  const auto& lat = r.latency_ns;
  fmt::print("{} {} subscribers, {} connections: {:.1f} commits/s ({:.1f} answers/s), "
             "commit p50 {:.2f} ms p99 {:.2f} ms, conflicts {}, failures {}, errors {}\n",
             o.kind == StreamKind::kWeasel ? "weaseldb" : "etcd", o.subscribers, o.connections,
             r.successes_per_s(), r.requests_per_s(), lat.value_at_percentile(50) / 1e6,
             lat.value_at_percentile(99) / 1e6, r.outcome(load::Outcome::kConflict),
             r.outcome(load::Outcome::kFailure), r.errors.total());
  if (o.subscribers == 0) return;
  const auto& h = lag.histogram;
  fmt::print("delivery lag: p50 {:.3f} ms  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f}  "
             "mean {:.3f} ms over {} deliveries of {} acknowledged versions; missing {}, "
             "before ack {}, drained {}\n",
             h.value_at_percentile(50) / 1e6, h.value_at_percentile(90) / 1e6,
             h.value_at_percentile(99) / 1e6, h.value_at_percentile(99.9) / 1e6, h.max() / 1e6,
             h.mean() / 1e6, lag.deliveries, lag.acked_versions, lag.missing, lag.before_ack,
             run.drained ? "yes" : "NO");
  fmt::print("subscriber thread: {:.0f}% of a CPU, {:.1f} MB/s received; error events {}, "
             "closed by server {}, failed {} {}\n",
             run.wall_ns > 0 ? 100.0 * run.cpu_ns / run.wall_ns : 0.0,
             run.wall_ns > 0 ? run.stats.bytes / 1e6 / (run.wall_ns / 1e9) : 0.0,
             run.stats.error_events, run.stats.closed_by_server, run.stats.failed,
             run.stats.first_error);
}

void print_json(const Options& o, const load::LoadReport& r, const bench::LagSummary& lag,
                const SubscriberRun& run) {
  const auto ms = [](uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  const auto& lat = r.latency_ns;
  const auto& h = lag.histogram;
  std::string error;
  append_json_string(error, run.stats.first_error);
  fmt::print(
      "{{\"system\":\"{}\",\"subscribers\":{},\"connections\":{},\"elapsed_s\":{:.3f},"
      "\"commits_per_s\":{:.1f},\"answers_per_s\":{:.1f},\"commit_p50_ms\":{:.3f},"
      "\"commit_p99_ms\":{:.3f},\"conflicts\":{},\"failures\":{},\"errors\":{},"
      "\"acked_versions\":{},\"deliveries\":{},\"missing\":{},\"before_ack\":{},"
      "\"unacked\":{},\"untracked\":{},\"pending_overflow\":{},"
      "\"lag_ms\":{{\"p50\":{:.3f},\"p90\":{:.3f},\"p99\":{:.3f},\"p999\":{:.3f},"
      "\"max\":{:.3f},\"mean\":{:.3f}}},\"drained\":{},\"subscriber_cpu\":{:.3f},"
      "\"received_mb_per_s\":{:.1f},\"error_events\":{},\"closed_by_server\":{},"
      "\"failed\":{},\"first_error\":{}}}\n",
      o.kind == StreamKind::kWeasel ? "weaseldb" : "etcd", o.subscribers, o.connections,
      r.elapsed_s, r.successes_per_s(), r.requests_per_s(), ms(lat.value_at_percentile(50)),
      ms(lat.value_at_percentile(99)), r.outcome(load::Outcome::kConflict),
      r.outcome(load::Outcome::kFailure), r.errors.total(), lag.acked_versions, lag.deliveries,
      lag.missing, lag.before_ack, lag.unacked, lag.untracked, lag.pending_overflow,
      ms(h.value_at_percentile(50)), ms(h.value_at_percentile(90)),
      ms(h.value_at_percentile(99)), ms(h.value_at_percentile(99.9)), ms(h.max()),
      h.mean() / 1e6, run.drained || o.subscribers == 0 ? "true" : "false",
      run.wall_ns > 0 ? static_cast<double>(run.cpu_ns) / run.wall_ns : 0.0,
      run.wall_ns > 0 ? run.stats.bytes / 1e6 / (run.wall_ns / 1e9) : 0.0,
      run.stats.error_events, run.stats.closed_by_server, run.stats.failed, error);
}

int run_lag(const Options& o) {
  uint64_t base = 0;
  if (std::string error = fetch_version(o, base); !error.empty()) {
    fmt::print(stderr, "stream_lag: {}\n", error);
    return 1;
  }
  bench::AckTable acks(base + 1, o.max_versions);
  bench::LagRecorder recorder(acks, o.max_pending);

  load::LoadOptions load;
  load.host = o.host;
  load.port = o.port;
  load.connections = o.connections;
  load.threads = o.threads;
  load.duration_s = o.duration_s;
  load.warmup_s = o.warmup_s;
  load.rate_per_s = o.rate_per_s;
  load::WorkloadSpec spec;
  spec.name = o.kind == StreamKind::kWeasel ? "weasel-commit" : "etcd-txn";
  spec.txn.keys = o.keys;
  if (std::string error = load::install_workload(spec, load); !error.empty()) {
    fmt::print(stderr, "stream_lag: {}\n", error);
    return 1;
  }
  load.make_workload = [inner = load.make_workload, &acks, kind = o.kind](uint32_t thread) {
    return std::make_unique<bench::AckingWorkload>(inner(thread), acks, kind);
  };

  SubscriberRun run;
  std::thread subscriber_thread;
  if (o.subscribers > 0) {
    std::future<std::string> ready = run.ready.get_future();
    subscriber_thread = std::thread([&] { run_subscribers(o, recorder, run); });
    if (std::string error = ready.get(); !error.empty()) {
      subscriber_thread.join();
      fmt::print(stderr, "stream_lag: {}\n", error);
      return 1;
    }
  }
  const int64_t window_start_ns =
      load::monotonic_now_ns() + static_cast<int64_t>(o.warmup_s * 1e9);
  recorder.set_window_start(window_start_ns);
  const load::LoadReport report = load::run_load(load);
  if (o.subscribers > 0) {
    run.drain_to.store(acks.max_version(), std::memory_order_release);
    run.stop.store(true, std::memory_order_release);
    subscriber_thread.join();
  }
  if (!report.setup_error.empty()) {
    fmt::print(stderr, "stream_lag: {}\n", report.setup_error);
    return 1;
  }
  const bench::LagSummary lag = recorder.summary(window_start_ns, o.subscribers);
  if (o.json) {
    print_json(o, report, lag, run);
  } else {
    print_text(o, report, lag, run);
  }
  const bool complete = o.subscribers == 0 || (run.drained && lag.missing == 0);
  return report.outcome(load::Outcome::kSuccess) > 0 && complete ? 0 : 1;
}

// ---- hold mode ---------------------------------------------------------------------------

class CountingListener final : public bench::EventListener {
 public:
  void on_version(uint32_t, uint64_t, int64_t) override { ++versions_; }
  uint64_t versions() const { return versions_; }

 private:
  uint64_t versions_ = 0;
};

bool stdin_at_eof() {
  pollfd p{.fd = 0, .events = POLLIN, .revents = 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char scratch[256];
  return ::read(0, scratch, sizeof(scratch)) <= 0;
}

bool raise_fd_limit(uint64_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  limit.rlim_cur = limit.rlim_max;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur >= needed;
}

int run_hold(const Options& o) {
  if (!raise_fd_limit(o.subscribers + 64)) {
    fmt::print(stderr, "stream_lag: cannot open {} descriptors (ulimit -n)\n", o.subscribers);
    return 1;
  }
  CountingListener listener;
  bench::SubscriberSet set(subscriber_options(o), &listener);
  if (std::string error = set.start(); !error.empty()) {
    fmt::print(stderr, "stream_lag: {}\n", error);
    return 1;
  }
  const int64_t deadline = load::monotonic_now_ns() + int64_t{o.ready_timeout_s} * 1'000'000'000;
  while (!set.settled() && load::monotonic_now_ns() < deadline) set.poll(10);
  const auto& s = set.stats();
  fmt::print("ready subscribers={} ready={} failed={} first_error={}\n", o.subscribers, s.ready,
             s.failed, s.first_error.empty() ? "-" : s.first_error);
  std::fflush(stdout);
  while (!stdin_at_eof()) set.poll(100);
  fmt::print("done ready={} failed={} closed_by_server={} error_events={} versions={} "
             "bytes={} first_error={}\n",
             s.ready, s.failed, s.closed_by_server, s.error_events, listener.versions(), s.bytes,
             s.first_error.empty() ? "-" : s.first_error);
  return s.ready == o.subscribers ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (std::string error = parse_options(argc, argv, options); !error.empty()) {
    fmt::print(stderr, "stream_lag: {}\n{}", error, kUsage);
    return 2;
  }
  return options.mode == "lag" ? run_lag(options) : run_hold(options);
}
