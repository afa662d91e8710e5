// Tests of the load tester: histogram, HTTP response delimiting, command line, and whole runs
// against an in-process HTTP responder (test_responder.hpp) on a loopback port. Runs are
// bounded by request counts, never by time, so every count checked here is exact. The
// transactional workloads and RESP are tested in commit_workloads_test.cpp.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <string>
#include <vector>

#include "load_tester/cli.hpp"
#include "load_tester/histogram.hpp"
#include "load_tester/http_protocol.hpp"
#include "load_tester/load_runner.hpp"
#include "load_tester/pacer.hpp"
#include "load_tester/report.hpp"
#include "load_tester/test_responder.hpp"

namespace weasel::load {
namespace {

using testing::Responder;

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"version\":1}";

LoadOptions counted_run(uint16_t port, uint64_t requests) {
  LoadOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.requests = requests;
  // Never reached when the code is right; it turns a bug that loses count into a failed
  // check instead of a hung test. No check depends on it.
  options.duration_s = 300;
  return options;
}

void check_no_errors(const LoadReport& report) {
  CHECK(report.setup_error.empty());
  CHECK(report.errors.total() == 0);
  CHECK(report.lost_requests == 0);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
TEST_CASE("histogram buckets tile the value range with bounded relative error") {
  CHECK(LatencyHistogram::bucket_low(0) == 0);
  for (size_t i = 0; i + 1 < LatencyHistogram::bucket_count(); ++i) {
    REQUIRE(LatencyHistogram::bucket_high(i) + 1 == LatencyHistogram::bucket_low(i + 1));
    const uint64_t low = LatencyHistogram::bucket_low(i);
    const uint64_t width = LatencyHistogram::bucket_high(i) - low + 1;
    REQUIRE(width * 256 <= std::max<uint64_t>(low, 256));  // 1/256 of the value, or exact
  }
  const size_t last = LatencyHistogram::bucket_count() - 1;
  CHECK(LatencyHistogram::bucket_high(last) == LatencyHistogram::kMaxTrackable);
  for (uint64_t v : {0ull, 1ull, 511ull, 512ull, 513ull, 1023ull, 1024ull, 123456789ull}) {
    const size_t i = LatencyHistogram::bucket_index(v);
    CHECK(LatencyHistogram::bucket_low(i) <= v);
    CHECK(v <= LatencyHistogram::bucket_high(i));
  }
}

TEST_CASE("histogram percentiles, merge and clamping") {
  LatencyHistogram small;
  for (uint64_t v = 1; v <= 500; ++v) small.record(v);
  CHECK(small.count() == 500);
  CHECK(small.value_at_percentile(50) == 250);  // exact below 512
  CHECK(small.value_at_percentile(99.9) == 500);
  CHECK(small.value_at_percentile(0) == 1);
  CHECK(small.min() == 1);
  CHECK(small.max() == 500);
  CHECK(small.mean() == doctest::Approx(250.5));

  LatencyHistogram a;
  LatencyHistogram b;
  for (uint64_t v = 1; v <= 1'000'000; ++v) (v % 2 ? a : b).record(v * 1000);
  a.merge(b);
  CHECK(a.count() == 1'000'000);
  CHECK(a.max() == 1'000'000'000);
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const double exact = p / 100 * 1e9;
    CHECK(static_cast<double>(a.value_at_percentile(p)) >= exact);
    CHECK(static_cast<double>(a.value_at_percentile(p)) <= exact * (1 + 1.0 / 256));
  }
  CHECK(a.value_at_percentile(100) == 1'000'000'000);

  LatencyHistogram huge;
  huge.record(UINT64_MAX / 2);
  CHECK(huge.max() == UINT64_MAX / 2);
  CHECK(huge.value_at_percentile(50) == LatencyHistogram::kMaxTrackable);
  huge.reset();
  CHECK(huge.count() == 0);
  CHECK(huge.value_at_percentile(50) == 0);
}

// ---------------------------------------------------------------------------------------------
namespace {

ScanResult scan(std::string_view bytes, bool peer_closed = false, bool head = false) {
  RequestMeta meta;
  meta.expects_no_body = head;
  return HttpProtocol().scan_response(bytes, meta, peer_closed);
}

// Every strict prefix of a complete response is incomplete, and truncated once closed.
void check_prefixes(std::string_view response) {
  for (size_t n = 0; n < response.size(); ++n) {
    REQUIRE(scan(response.substr(0, n)).status == ScanStatus::kIncomplete);
    if (n > 0) REQUIRE(scan(response.substr(0, n), true).status == ScanStatus::kMalformed);
  }
}

}  // namespace

TEST_CASE("http responses delimited by Content-Length, pipelined") {
  const std::string two = kOk + "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nno";
  ScanResult first = scan(two);
  REQUIRE(first.status == ScanStatus::kComplete);
  CHECK(first.length == kOk.size());
  CHECK(first.response.status_code == 200);
  CHECK(first.response.body == "{\"version\":1}");
  CHECK_FALSE(first.response.close_after);
  ScanResult second = scan(std::string_view(two).substr(first.length));
  REQUIRE(second.status == ScanStatus::kComplete);
  CHECK(second.response.status_code == 404);
  CHECK(second.response.body == "no");
  check_prefixes(kOk);
}

TEST_CASE("http chunked responses with extensions and trailers") {
  const std::string chunked =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n";
  const ScanResult result = scan(chunked + "HTTP/1.1 200 OK\r\n");
  REQUIRE(result.status == ScanStatus::kComplete);
  CHECK(result.length == chunked.size());
  CHECK(result.response.chunked);
  check_prefixes(chunked);
  CHECK(scan("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").status ==
        ScanStatus::kMalformed);
  CHECK(scan("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n").status ==
        ScanStatus::kMalformed);
}

TEST_CASE("http responses without a body, interim responses, and closes") {
  const ScanResult interim = scan("HTTP/1.1 100 Continue\r\n\r\n" + kOk);
  REQUIRE(interim.status == ScanStatus::kComplete);
  CHECK(interim.response.interim);
  CHECK(interim.length == 25);
  const std::string no_content = "HTTP/1.1 204 No Content\r\n\r\n";
  CHECK(scan(no_content + kOk).length == no_content.size());
  const ScanResult head = scan("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", false, true);
  REQUIRE(head.status == ScanStatus::kComplete);
  CHECK(head.response.body.empty());

  const std::string until_close = "HTTP/1.0 200 OK\r\n\r\nbody until close";
  CHECK(scan(until_close).status == ScanStatus::kIncomplete);
  const ScanResult closed = scan(until_close, true);
  REQUIRE(closed.status == ScanStatus::kComplete);
  CHECK(closed.response.body == "body until close");
  CHECK(closed.response.close_after);

  CHECK(scan("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n")
            .response.close_after);
  CHECK(scan("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").response.close_after);
  CHECK_FALSE(scan("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
                  .response.close_after);
}

TEST_CASE("http malformed responses") {
  CHECK(scan("HTTP/2 200 OK\r\n\r\n").status == ScanStatus::kMalformed);
  CHECK(scan("HTTP/1.1 2x0 OK\r\n\r\n").status == ScanStatus::kMalformed);
  CHECK(scan("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n").status == ScanStatus::kMalformed);
  CHECK(scan("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab").status ==
        ScanStatus::kMalformed);
  CHECK(scan("HTTP/1.1 200 OK\r\nno colon\r\n\r\n").status == ScanStatus::kMalformed);
  CHECK(scan(std::string(HttpProtocol::kMaxHeaderBytes + 1, 'x')).status == ScanStatus::kMalformed);
}

TEST_CASE("http request framing") {
  ByteBuffer out(16);
  const HttpHeader headers[] = {{"X-Test", "1"}};
  frame_http_request(out, "POST", "/v1/commit", "h:1", headers, "{}");
  CHECK(out.view() ==
        "POST /v1/commit HTTP/1.1\r\nHost: h:1\r\nX-Test: 1\r\nContent-Length: 2\r\n\r\n{}");
  out.clear();
  const HttpHeader host[] = {{"host", "other"}};
  frame_http_request(out, "GET", "/", "h:1", host, "");
  CHECK(out.view() == "GET / HTTP/1.1\r\nhost: other\r\n\r\n");
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("command line") {
  const std::vector<std::string_view> args = {"--target",      "127.0.0.1:8080",
                                              "--connections", "64",
                                              "--threads",     "2",
                                              "--pipeline",    "4",
                                              "--duration",    "1.5",
                                              "--header",      "X-A: b",
                                              "--header",      "X-C:d",
                                              "--method",      "POST",
                                              "--body",        "{}",
                                              "--json"};
  const CliResult cli = parse_cli(args);
  REQUIRE(cli.error.empty());
  CHECK(cli.json);
  CHECK(cli.options.host == "127.0.0.1");
  CHECK(cli.options.port == 8080);
  CHECK(cli.options.connections == 64);
  CHECK(cli.options.threads == 2);
  CHECK(cli.options.pipeline_depth == 4);
  CHECK(cli.options.duration_s == 1.5);
  REQUIRE(cli.options.headers.size() == 2);
  CHECK(cli.options.headers[1].first == "X-C");
  CHECK(cli.options.headers[0].second == "b");
  CHECK(cli.options.body == "{}");

  const std::vector<std::string_view> v6 = {"--target", "[::1]:9", "--requests", "5"};
  CHECK(parse_cli(v6).options.host == "::1");
  const std::vector<std::vector<std::string_view>> bad = {
      {"--target", "127.0.0.1:8080"},                                  // neither bound
      {"--requests", "5"},                                             // no target
      {"--target", "127.0.0.1:99999", "--requests", "5"},              // port range
      {"--target", "h:1", "--requests", "5", "--bogus", "1"},          // unknown option
      {"--target", "h:1", "--requests"},                               // missing value
      {"--target", "h:1", "--requests", "5", "--connections", "0"},    // out of range
      {"--target", "h:1", "--requests", "5", "--header", "no-colon"},  // header shape
      {"--target", "h:1", "--requests", "5", "--body-file", "/nonexistent/file"}};
  for (const auto& arguments : bad) CHECK_FALSE(parse_cli(arguments).error.empty());

  const std::vector<std::string_view> paced = {"--target", "h:1", "--duration", "1", "--rate",
                                               "2500.5"};
  CHECK(parse_cli(paced).options.rate_per_s == 2500.5);
  for (std::string_view rate : {"-1", "nan", "inf", "2e9", "x"}) {
    const std::vector<std::string_view> arguments = {"--target", "h:1", "--duration", "1",
                                                     "--rate", rate};
    CHECK_MESSAGE(parse_cli(arguments).error.starts_with("--rate"), rate);
  }
}

TEST_CASE("pacer: due times follow the rate without drift, late requests keep theirs") {
  const Pacer unpaced;
  CHECK_FALSE(unpaced.paced());
  CHECK(unpaced.may_issue(0));
  Pacer free_running(0, 100);
  CHECK(free_running.take(12345) == 12345);  // not paced: due now

  Pacer pacer(1000, 5'000);  // one per millisecond from t = 5 µs
  CHECK(pacer.paced());
  CHECK(pacer.may_issue(5'000));
  CHECK(pacer.take(5'000) == 5'000);
  CHECK_FALSE(pacer.may_issue(1'004'999));
  CHECK(pacer.due_ns() == 1'005'000);
  // 4.5 ms late: the four requests due by then go out at once, each with its own due time.
  for (int64_t k = 1; k <= 4; ++k) CHECK(pacer.take(4'505'000) == 5'000 + k * 1'000'000);
  CHECK_FALSE(pacer.may_issue(4'505'000));

  Pacer thirds(3, 0);  // 333,333,333.3 ns apart: rounding must not accumulate
  for (int i = 0; i < 300'000; ++i) thirds.take(INT64_MAX);
  CHECK(thirds.due_ns() == 100'000'000'000'000);
  CHECK(thirds.taken() == 300'000);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("a fixed request count over pipelined connections and two threads") {
  Responder responder(kOk);
  LoadOptions options = counted_run(responder.port(), 1000);
  options.connections = 4;
  options.threads = 2;
  options.pipeline_depth = 8;
  const LoadReport report = run_load(options);
  const uint64_t answered = responder.stop();
  check_no_errors(report);
  CHECK(report.requests == 1000);
  CHECK(report.ok == 1000);
  CHECK(report.latency_ns.count() == 1000);
  CHECK(report.status_counts[200] == 1000);
  CHECK(report.reconnects == 0);
  CHECK(answered == 1000);  // nothing was sent beyond the count
  CHECK(report.requests_per_s() > 0);
  const std::string json = format_report_json(options, report);
  CHECK(json.find("\"requests\":1000,") != std::string::npos);
  CHECK(json.find("\"errors\":{\"connect\":0,") != std::string::npos);
}

TEST_CASE("a paced run sends every request on schedule-driven connections") {
  Responder responder(kOk);
  LoadOptions options = counted_run(responder.port(), 300);
  options.connections = 3;
  options.threads = 2;
  options.pipeline_depth = 2;
  options.rate_per_s = 30'000;  // ~10 ms: connections go idle between due requests
  const LoadReport report = run_load(options);
  REQUIRE(report.setup_error.empty());
  CHECK(report.requests == 300);
  CHECK(report.ok == 300);
  CHECK(report.errors.total() == 0);
  CHECK(report.latency_ns.count() == 300);
}

TEST_CASE("request bodies, chunked answers and non-2xx statuses are counted") {
  Responder responder(
      "HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  LoadOptions options = counted_run(responder.port(), 300);
  options.connections = 3;
  options.pipeline_depth = 4;
  options.method = "POST";
  options.path = "/v1/commit";
  options.body = std::string(5000, 'b');  // several reads per request on the server side
  const LoadReport report = run_load(options);
  CHECK(responder.stop() == 300);
  check_no_errors(report);
  CHECK(report.requests == 300);
  CHECK(report.ok == 0);
  CHECK(report.status_counts[409] == 300);
  CHECK(report.latency_ns.count() == 300);
}

TEST_CASE("connections the server closes are reopened and counted") {
  Responder responder(kOk, /*close_every=*/3);
  LoadOptions options = counted_run(responder.port(), 30);
  options.connections = 1;
  const LoadReport report = run_load(options);
  CHECK(responder.stop() == 30);
  check_no_errors(report);
  CHECK(report.requests == 30);
  CHECK(report.latency_ns.count() == 30);
  CHECK(report.reconnects == 9);  // 10 sessions of 3 answers; none after the last
}

TEST_CASE("requests lost to a close while pipelined are sent again") {
  Responder responder(kOk, /*close_every=*/5);
  LoadOptions options = counted_run(responder.port(), 200);
  options.connections = 3;
  options.pipeline_depth = 4;
  const LoadReport report = run_load(options);
  CHECK(responder.stop() == 200);  // every answer sent was counted, none twice
  CHECK(report.setup_error.empty());
  CHECK(report.errors.total() == 0);  // announced closes are not errors
  CHECK(report.requests == 200);
  CHECK(report.ok == 200);
  CHECK(report.latency_ns.count() == 200);
  // At most 5 answers per session: at least 40 sessions over 3 connections.
  CHECK(report.reconnects >= 37);
}

TEST_CASE("connect failures are counted and a dead target ends the run") {
  // A bound socket that does not listen: connects to it are refused.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);

  LoadOptions options = counted_run(ntohs(address.sin_port), 5);
  options.connections = 2;
  options.max_consecutive_failures = 3;
  options.reconnect_delay_ms = 0;
  const LoadReport report = run_load(options);
  close(fd);
  CHECK(report.setup_error.empty());
  CHECK(report.errors.connect == 6);
  CHECK(report.requests == 0);
  CHECK(report.ok == 0);
  CHECK(report.latency_ns.count() == 0);
}

TEST_CASE("invalid options do not start a run") {
  LoadOptions options;
  options.port = 1;
  CHECK_FALSE(run_load(options).setup_error.empty());  // neither duration nor requests
  options.requests = 1;
  options.host = "no-such-host.invalid";
  CHECK_FALSE(run_load(options).setup_error.empty());
}

}  // namespace weasel::load
