// Tests for the Prometheus metrics registry (src/metrics): exact exposition text, escaping,
// callback gauges, exact totals under many threads, and acceptance by the real promtool.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <latch>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "metrics/metrics.hpp"

extern char** environ;

namespace weasel {
namespace {

std::string render(const MetricsRegistry& registry) {
  std::string out;
  registry.render(out);
  return out;
}

TEST_CASE("counter: exact text, same name+labels is the same counter") {
  MetricsRegistry registry;
  Counter& ok = registry.counter("weaseldb_http_requests_total", "HTTP requests answered.",
                                 {{"route", "commit"}, {"code", "200"}});
  Counter& bad = registry.counter("weaseldb_http_requests_total", "HTTP requests answered.",
                                  {{"route", "commit"}, {"code", "400"}});
  CHECK(&ok == &registry.counter("weaseldb_http_requests_total", "HTTP requests answered.",
                                 {{"route", "commit"}, {"code", "200"}}));
  CHECK(&ok != &bad);
  ok.inc();
  ok.inc(41);
  bad.inc(std::numeric_limits<uint64_t>::max() / 2);
  Counter& plain = registry.counter("weaseldb_plain_total", "No labels.");
  CHECK(ok.value() == 42);
  CHECK(plain.value() == 0);
  CHECK(render(registry) ==
        "# HELP weaseldb_http_requests_total HTTP requests answered.\n"
        "# TYPE weaseldb_http_requests_total counter\n"
        "weaseldb_http_requests_total{route=\"commit\",code=\"200\"} 42\n"
        "weaseldb_http_requests_total{route=\"commit\",code=\"400\"} 9223372036854775807\n"
        "# HELP weaseldb_plain_total No labels.\n"
        "# TYPE weaseldb_plain_total counter\n"
        "weaseldb_plain_total 0\n");
}

TEST_CASE("gauge: set, add and number formatting") {
  MetricsRegistry registry;
  Gauge& g = registry.gauge("weaseldb_connections", "Open connections.");
  g.set(3);
  g.add(2.5);
  g.add(-1);
  CHECK(g.value() == 4.5);
  auto value_of = [&](double v) {
    g.set(v);
    std::string text = render(registry);
    std::string prefix = "weaseldb_connections ";
    size_t at = text.find("\n" + prefix);
    REQUIRE(at != std::string::npos);
    return text.substr(at + 1 + prefix.size(), text.size() - at - 2 - prefix.size());
  };
  CHECK(value_of(4.5) == "4.5");
  CHECK(value_of(42) == "42");
  CHECK(value_of(-0.25) == "-0.25");
  CHECK(value_of(0.1) == "0.1");
  CHECK(value_of(1e-5) == "1e-05");
  CHECK(value_of(1e21) == "1e+21");
  CHECK(value_of(9007199254740992.0) == "9007199254740992");  // integral: no exponent
  CHECK(value_of(-123456789) == "-123456789");
  CHECK(value_of(1234567.5) == "1.2345675e+06");
  CHECK(value_of(0.0001) == "0.0001");
  CHECK(value_of(-0.0) == "-0");
  CHECK(value_of(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(value_of(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(value_of(std::numeric_limits<double>::quiet_NaN()) == "NaN");
}

TEST_CASE("histogram: cumulative buckets with +Inf, _sum and _count") {
  MetricsRegistry registry;
  const double bounds[] = {0.25, 1, 4};
  Histogram& h = registry.histogram("weaseldb_http_request_duration_seconds", "Request latency.",
                                    bounds, {{"route", "commit"}});
  CHECK(&h == &registry.histogram("weaseldb_http_request_duration_seconds", "Request latency.",
                                  bounds, {{"route", "commit"}}));
  h.observe(0.25);  // bounds are inclusive ("le")
  h.observe(0.5);
  h.observe(2);
  h.observe(8);
  h.observe(-1);
  CHECK(h.count() == 5);
  CHECK(h.sum() == 9.75);
  Histogram& other = registry.histogram("weaseldb_http_request_duration_seconds",
                                        "Request latency.", bounds, {{"route", "ver\"sion"}});
  other.observe(std::numeric_limits<double>::quiet_NaN());
  CHECK(render(registry) ==
        "# HELP weaseldb_http_request_duration_seconds Request latency.\n"
        "# TYPE weaseldb_http_request_duration_seconds histogram\n"
        "weaseldb_http_request_duration_seconds_bucket{route=\"commit\",le=\"0.25\"} 2\n"
        "weaseldb_http_request_duration_seconds_bucket{route=\"commit\",le=\"1\"} 3\n"
        "weaseldb_http_request_duration_seconds_bucket{route=\"commit\",le=\"4\"} 4\n"
        "weaseldb_http_request_duration_seconds_bucket{route=\"commit\",le=\"+Inf\"} 5\n"
        "weaseldb_http_request_duration_seconds_sum{route=\"commit\"} 9.75\n"
        "weaseldb_http_request_duration_seconds_count{route=\"commit\"} 5\n"
        "weaseldb_http_request_duration_seconds_bucket{route=\"ver\\\"sion\",le=\"0.25\"} 0\n"
        "weaseldb_http_request_duration_seconds_bucket{route=\"ver\\\"sion\",le=\"1\"} 0\n"
        "weaseldb_http_request_duration_seconds_bucket{route=\"ver\\\"sion\",le=\"4\"} 0\n"
        "weaseldb_http_request_duration_seconds_bucket{route=\"ver\\\"sion\",le=\"+Inf\"} 1\n"
        "weaseldb_http_request_duration_seconds_sum{route=\"ver\\\"sion\"} NaN\n"
        "weaseldb_http_request_duration_seconds_count{route=\"ver\\\"sion\"} 1\n");
}

TEST_CASE("histogram without labels and with many buckets") {
  MetricsRegistry registry;
  std::span<const double> bounds = default_latency_buckets_seconds();
  Histogram& h = registry.histogram("weaseldb_log_sync_duration_seconds", "fsync time.", bounds);
  for (double bound : bounds) h.observe(bound);
  h.observe(bounds.back() * 2);
  std::vector<uint64_t> counts;
  h.bucket_counts(counts);
  CHECK(counts == std::vector<uint64_t>(bounds.size() + 1, 1));
  std::string text = render(registry);
  CHECK(text.find("weaseldb_log_sync_duration_seconds_bucket{le=\"5e-05\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("weaseldb_log_sync_duration_seconds_bucket{le=\"0.0001\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("weaseldb_log_sync_duration_seconds_bucket{le=\"0.0025\"} 6\n") !=
        std::string::npos);
  CHECK(text.find("weaseldb_log_sync_duration_seconds_bucket{le=\"+Inf\"} 18\n") !=
        std::string::npos);
  CHECK(text.find("weaseldb_log_sync_duration_seconds_count 18\n") != std::string::npos);
}

TEST_CASE("default latency buckets: 50 us .. 10 s, strictly increasing") {
  std::span<const double> bounds = default_latency_buckets_seconds();
  REQUIRE(bounds.size() >= 10);
  CHECK(bounds.front() == 50e-6);
  CHECK(bounds.back() == 10);
  for (size_t i = 1; i < bounds.size(); ++i) CHECK(bounds[i - 1] < bounds[i]);
}

TEST_CASE("escaping of label values and help text") {
  MetricsRegistry registry;
  registry
      .gauge("weaseldb_escape_test", "Help with \\ backslash\nand \"quotes\".",
             {{"path", "C:\\dir\\\"x\"\nnext"}, {"utf8", "caf\xc3\xa9"}})
      .set(1);
  CHECK(render(registry) ==
        "# HELP weaseldb_escape_test Help with \\\\ backslash\\nand \"quotes\".\n"
        "# TYPE weaseldb_escape_test gauge\n"
        "weaseldb_escape_test{path=\"C:\\\\dir\\\\\\\"x\\\"\\nnext\",utf8=\"caf\xc3\xa9\"} 1\n");
}

TEST_CASE("callback gauges are sampled at scrape time, families in registration order") {
  MetricsRegistry registry;
  std::atomic<int> depth = 3;
  registry.gauge_callback("weaseldb_pipeline_queue_depth", "Items queued per stage.",
                          {{"stage", "resolve"}}, [&] { return double(depth.load()); });
  registry.counter("weaseldb_commits_total", "Commits by outcome.", {{"status", "committed"}})
      .inc(7);
  registry
      .gauge("weaseldb_pipeline_queue_depth", "Items queued per stage.", {{"stage", "sequence"}})
      .set(1);
  registry.gauge_callback("weaseldb_pipeline_queue_depth", "Items queued per stage.",
                          {{"stage", "persist"}}, [] { return 0.5; });
  std::string expected_tail =
      "# HELP weaseldb_commits_total Commits by outcome.\n"
      "# TYPE weaseldb_commits_total counter\n"
      "weaseldb_commits_total{status=\"committed\"} 7\n";
  auto expected = [&](const char* resolve) {
    return std::string(
               "# HELP weaseldb_pipeline_queue_depth Items queued per stage.\n"
               "# TYPE weaseldb_pipeline_queue_depth gauge\n"
               "weaseldb_pipeline_queue_depth{stage=\"resolve\"} ") +
           resolve +
           "\n"
           "weaseldb_pipeline_queue_depth{stage=\"sequence\"} 1\n"
           "weaseldb_pipeline_queue_depth{stage=\"persist\"} 0.5\n" +
           expected_tail;
  };
  CHECK(render(registry) == expected("3"));
  depth = 12;
  CHECK(render(registry) == expected("12"));
}

TEST_CASE("render appends") {
  MetricsRegistry registry;
  registry.counter("weaseldb_x_total", "x").inc();
  std::string out = "prefix\n";
  registry.render(out);
  CHECK(out ==
        "prefix\n# HELP weaseldb_x_total x\n# TYPE weaseldb_x_total counter\n"
        "weaseldb_x_total 1\n");
  MetricsRegistry empty;
  CHECK(render(empty).empty());
}

TEST_CASE("many threads: totals are exact, also with more threads than shards") {
  constexpr int kThreads = 3 * static_cast<int>(metrics_detail::kShards) / 2;  // 24 > 16
  constexpr int kIterations = 20000;
  MetricsRegistry registry;
  Counter& counter = registry.counter("weaseldb_test_ops_total", "ops");
  const double bounds[] = {1, 2};
  Histogram& histogram = registry.histogram("weaseldb_test_values", "values", bounds);
  Gauge& gauge = registry.gauge("weaseldb_test_level", "level");

  std::latch start(kThreads + 1);
  std::atomic<bool> done = false;
  std::vector<std::thread> threads;
  std::vector<metrics_detail::ThreadSlot> slots(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      slots[static_cast<size_t>(t)] = metrics_detail::thread_slot();
      start.arrive_and_wait();
      for (int i = 0; i < kIterations; ++i) {
        counter.inc();
        histogram.observe(static_cast<double>((t + i) % 3));  // 0, 1 or 2: exact sums
        gauge.add(1);
      }
    });
  }
  // A scraper running concurrently with the writers (for TSan); totals never go backwards.
  std::thread scraper([&] {
    start.arrive_and_wait();
    uint64_t last = 0;
    std::string text;
    while (!done.load()) {
      text.clear();
      registry.render(text);
      uint64_t now = counter.value();
      CHECK(now >= last);
      last = now;
    }
  });
  for (std::thread& thread : threads) thread.join();
  done = true;
  scraper.join();

  // Live threads never share an exclusive slot; the overflow goes to the shared slots.
  std::vector<int> owners(metrics_detail::kShards, 0);
  for (const metrics_detail::ThreadSlot& slot : slots) {
    CHECK(slot.exclusive == (slot.index < metrics_detail::kExclusiveSlots));
    owners[slot.index]++;
  }
  for (uint32_t i = 0; i < metrics_detail::kExclusiveSlots; ++i) CHECK(owners[i] <= 1);
  int shared = 0;
  for (uint32_t i = metrics_detail::kExclusiveSlots; i < metrics_detail::kShards; ++i) {
    shared += owners[i];
  }
  CHECK(shared >= kThreads - static_cast<int>(metrics_detail::kExclusiveSlots));

  constexpr uint64_t kTotal = uint64_t{kThreads} * kIterations;
  CHECK(counter.value() == kTotal);
  CHECK(histogram.count() == kTotal);
  CHECK(gauge.value() == static_cast<double>(kTotal));
  std::vector<uint64_t> counts;
  histogram.bucket_counts(counts);
  uint64_t expected_sum = 0;
  std::vector<uint64_t> expected_counts(3, 0);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kIterations; ++i) {
      int v = (t + i) % 3;
      expected_sum += static_cast<uint64_t>(v);
      expected_counts[static_cast<size_t>(v)]++;  // 0 -> le=1, 1 -> le=1, 2 -> le=2
    }
  }
  CHECK(counts ==
        std::vector<uint64_t>{expected_counts[0] + expected_counts[1], expected_counts[2], 0});
  CHECK(histogram.sum() == static_cast<double>(expected_sum));
}

TEST_CASE("a thread's exclusive shard slot is recycled when it exits") {
  MetricsRegistry registry;
  Counter& counter = registry.counter("weaseldb_test_recycle_total", "ops");
  constexpr int kThreads = 3 * metrics_detail::kExclusiveSlots;
  std::vector<metrics_detail::ThreadSlot> slots(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    std::thread([&, t] {
      counter.inc();
      slots[static_cast<size_t>(t)] = metrics_detail::thread_slot();
    }).join();
  }
  CHECK(counter.value() == kThreads);
  for (int t = 0; t < kThreads; ++t) {
    CAPTURE(t);
    // Without recycling, threads past kExclusiveSlots would all land on shared slots.
    CHECK(slots[static_cast<size_t>(t)].exclusive);
    CHECK(slots[static_cast<size_t>(t)].index == slots[0].index);
  }
}

// Runs `promtool check metrics` on `text`; returns its exit status and output.
struct PromtoolResult {
  int status;
  std::string output;
};

PromtoolResult run_promtool(const std::string& text) {
  char path[] = "/tmp/weasel_test_metrics_XXXXXX";
  int input = mkstemp(path);
  REQUIRE(input >= 0);
  unlink(path);
  REQUIRE(write(input, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  REQUIRE(lseek(input, 0, SEEK_SET) == 0);
  int pipe_fds[2];
  REQUIRE(pipe2(pipe_fds, O_CLOEXEC) == 0);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  char arg0[] = "promtool";
  char arg1[] = "check";
  char arg2[] = "metrics";
  char* argv[] = {arg0, arg1, arg2, nullptr};
  pid_t pid = -1;
  int error = posix_spawnp(&pid, "promtool", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  close(input);
  if (error != 0) {
    close(pipe_fds[0]);
    FAIL("cannot run promtool (" << std::strerror(error)
                                 << "): install Debian's 'prometheus' package, which ships "
                                    "/usr/bin/promtool");
  }
  PromtoolResult result{-1, {}};
  char buffer[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0) {
    result.output.append(buffer, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int wait_status = 0;
  REQUIRE(waitpid(pid, &wait_status, 0) == pid);
  REQUIRE(WIFEXITED(wait_status));
  result.status = WEXITSTATUS(wait_status);
  return result;
}

TEST_CASE("promtool check metrics accepts the rendered registry") {
  MetricsRegistry registry;
  std::span<const double> latency = default_latency_buckets_seconds();
  for (const char* route : {"commit", "version", "subscribe"}) {
    for (const char* code : {"200", "409", "503"}) {
      registry
          .counter("weaseldb_http_requests_total", "HTTP requests by route and status.",
                   {{"route", route}, {"code", code}})
          .inc(3);
    }
    registry
        .histogram("weaseldb_http_request_duration_seconds", "HTTP request latency.", latency,
                   {{"route", route}})
        .observe(0.0012);
  }
  registry.gauge_callback("weaseldb_connections", "Open client connections.", {},
                          [] { return 17.0; });
  registry.counter("weaseldb_commits_total", "Commits by outcome.", {{"status", "conflict"}}).inc();
  const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  registry.histogram("weaseldb_commit_batch_size", "Transactions per log batch.", batch_bounds)
      .observe(5);
  registry.histogram("weaseldb_log_sync_duration_seconds", "Log fsync latency.", latency)
      .observe(std::numeric_limits<double>::quiet_NaN());
  registry.gauge("weaseldb_committed_version", "Latest committed version.").set(9007199254740991);
  registry.gauge("weaseldb_pipeline_queue_depth", "Queued items per stage.", {{"stage", "persist"}})
      .set(0);
  registry.gauge("weaseldb_log_bytes", "Bytes held by the log.")
      .set(std::numeric_limits<double>::infinity());
  registry.counter("weaseldb_subscriber_disconnects_total", "Subscriber disconnects by reason.",
                   {{"reason", "slow_consumer"}});
  registry
      .counter("weaseldb_storage_bytes_written_total", "Bytes written \\ by the\nengine.",
               {{"weird", "a\"b\\c\nd \xc3\xa9"}})
      .inc(1ull << 62);

  std::string text = render(registry);
  PromtoolResult result = run_promtool(text);
  CAPTURE(text);
  CHECK(result.output == "");
  CHECK(result.status == 0);
}

TEST_CASE("promtool is a real check: it rejects a broken exposition") {
  // Guards the test above against a promtool that accepts anything.
  PromtoolResult result =
      run_promtool("# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"b} 1\n");
  CHECK(result.status != 0);
  CHECK(result.output.find("parsing error in line 3") != std::string::npos);
}

// Runs `misuse` in a child process and returns what it printed to stderr; the child must die
// of SIGABRT (WEASEL_ASSERT).
std::string assert_message(void (*misuse)()) {
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // doctest's own SIGABRT handler would report a crash from the child: die plainly.
    signal(SIGABRT, SIG_DFL);
    dup2(pipe_fds[1], 2);
    misuse();
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string output;
  char buffer[1024];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0) {
    output.append(buffer, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  return output;
}

TEST_CASE("misuse is an assertion failure") {
  CHECK(assert_message([] {
          MetricsRegistry r;
          r.counter("weaseldb_a_total", "h");
          r.gauge("weaseldb_a_total", "h");
        }).find("counters, and only counters, end in _total") != std::string::npos);
  CHECK(assert_message([] {
          MetricsRegistry r;
          r.gauge("weaseldb_a", "h");
          r.histogram("weaseldb_a", "h", default_latency_buckets_seconds());
        }).find("two types") != std::string::npos);
  CHECK(assert_message([] {
          MetricsRegistry r;
          r.gauge("weaseldb_a", "h");
          r.gauge("weaseldb_a", "other help");
        }).find("two helps") != std::string::npos);
  CHECK(assert_message([] {
          MetricsRegistry r;
          r.gauge("weaseldb_a", "h", {{"x", "1"}});
          r.gauge("weaseldb_a", "h", {{"y", "1"}});
        }).find("two label sets") != std::string::npos);
  CHECK(assert_message([] {
          MetricsRegistry r;
          r.gauge("weaseldbA", "h");
        }).find("bad metric name") != std::string::npos);
  CHECK(assert_message([] {
          MetricsRegistry r;
          r.gauge("weaseldb_a", "h", {{"le", "1"}});
        }).find("bad label name") != std::string::npos);
  CHECK(assert_message([] {
          MetricsRegistry r;
          r.gauge("weaseldb_a", "h", {{"x", "\xff"}});
        }).find("not UTF-8") != std::string::npos);
  CHECK(assert_message([] {
          MetricsRegistry r;
          r.histogram("weaseldb_a", "h", default_latency_buckets_seconds());
          r.gauge("weaseldb_a_count", "h");
        }).find("clashes with a histogram") != std::string::npos);
  CHECK(assert_message([] {
          MetricsRegistry r;
          r.gauge_callback("weaseldb_a", "h", {}, [] { return 1.0; });
          r.gauge_callback("weaseldb_a", "h", {}, [] { return 2.0; });
        }).find("registered twice") != std::string::npos);
  CHECK(assert_message([] {
          MetricsRegistry r;
          const double bounds[] = {1, 1};
          r.histogram("weaseldb_a", "h", bounds);
        }).find("strictly increasing") != std::string::npos);
}

}  // namespace
}  // namespace weasel
