// Tests of the load tester's RESP protocol and transactional workloads: reply delimiting and
// command framing, key/value generation, the JSON bodies (checked by WeaselDB's own commit
// parser and by simdjson), answer classification, workload setup, and whole runs against
// in-process responders (test_responder.hpp) that answer like WeaselDB, etcd and Redis.
// Runs are bounded by request counts, so every count checked is exact.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "commit/commit_parser.hpp"
#include "core/arena.hpp"
#include "core/base64.hpp"
#include "load_tester/cli.hpp"
#include "load_tester/commit_workloads.hpp"
#include "load_tester/resp_protocol.hpp"
#include "load_tester/test_responder.hpp"
#include "load_tester/workload_setup.hpp"

namespace weasel::load {
namespace {

using testing::Responder;

ScanResult scan_resp(std::string_view bytes, bool peer_closed = false) {
  return RespProtocol().scan_response(bytes, RequestMeta{}, peer_closed);
}

// Every strict prefix of a complete reply is incomplete, and malformed once the peer closed.
void check_resp_prefixes(std::string_view reply) {
  for (size_t n = 1; n < reply.size(); ++n) {
    CAPTURE(n);
    CHECK(scan_resp(reply.substr(0, n)).status == ScanStatus::kIncomplete);
    CHECK(scan_resp(reply.substr(0, n), true).status == ScanStatus::kMalformed);
  }
}

std::string decode(std::string_view b64) {
  std::string out(base64_decoded_size_max(b64.size()), '\0');
  const ptrdiff_t n = base64_decode(b64, out.data());
  REQUIRE(n >= 0);
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string http_answer(int status, std::string_view reason, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

std::string_view body_of(std::string_view http_request) {
  return http_request.substr(http_request.find("\r\n\r\n") + 4);
}

LoadOptions counted_run(uint16_t port, uint64_t requests) {
  LoadOptions options;
  options.port = port;
  options.requests = requests;
  options.connections = 4;
  options.pipeline_depth = 2;
  options.duration_s = 300;  // a guard against a hang; no check depends on it
  return options;
}

Response resp_reply(std::string_view bytes) {
  const ScanResult scan = scan_resp(bytes);
  REQUIRE(scan.status == ScanStatus::kComplete);
  return scan.response;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
TEST_CASE("resp replies of every type are delimited, with status and payload") {
  struct Case {
    std::string_view bytes;
    int status;
    std::string_view body;
  };
  const Case cases[] = {
      {"+OK\r\n", 200, "OK"},
      {"-ERR wrong\r\n", 500, "ERR wrong"},
      {":-42\r\n", 200, "-42"},
      {"$5\r\nhe\r\no\r\n", 200, "he\r\no"},  // bulk data may hold CRLF
      {"$0\r\n\r\n", 200, ""},
      {"$-1\r\n", 200, ""},
      {"*-1\r\n", 200, "*-1\r\n"},
      {"*2\r\n$1\r\na\r\n:1\r\n", 200, "*2\r\n$1\r\na\r\n:1\r\n"},
      {"*2\r\n*1\r\n+x\r\n*0\r\n", 200, "*2\r\n*1\r\n+x\r\n*0\r\n"},
      {"_\r\n", 200, ""},
      {"#t\r\n", 200, "t"},
      {",1.5\r\n", 200, "1.5"},
      {"(12345678901234567890\r\n", 200, "12345678901234567890"},
      {"!3\r\nbad\r\n", 500, "bad"},
      {"=7\r\ntxt:abc\r\n", 200, "txt:abc"},
      {"%1\r\n+k\r\n:1\r\n", 200, "%1\r\n+k\r\n:1\r\n"},
      {"~2\r\n+a\r\n+b\r\n", 200, "~2\r\n+a\r\n+b\r\n"},
      {"|1\r\n+ttl\r\n:3\r\n:7\r\n", 200, "|1\r\n+ttl\r\n:3\r\n:7\r\n"},  // attribute + value
  };
  for (const Case& c : cases) {
    CAPTURE(c.bytes);
    const ScanResult scan = scan_resp(c.bytes);
    REQUIRE(scan.status == ScanStatus::kComplete);
    CHECK(scan.length == c.bytes.size());
    CHECK(scan.response.status_code == c.status);
    CHECK(scan.response.body == c.body);
    CHECK(scan.response.raw == c.bytes);
    CHECK_FALSE(scan.response.interim);
    check_resp_prefixes(c.bytes);
  }
}

TEST_CASE("resp pipelined replies, pushes and empty input") {
  const ScanResult first = scan_resp(":1\r\n$2\r\nab\r\n");
  REQUIRE(first.status == ScanStatus::kComplete);
  CHECK(first.length == 4);
  CHECK(scan_resp(std::string_view(":1\r\n$2\r\nab\r\n").substr(4)).length == 8);

  const ScanResult push = scan_resp(">2\r\n+message\r\n+hi\r\n:1\r\n");
  REQUIRE(push.status == ScanStatus::kComplete);
  CHECK(push.response.interim);  // out-of-band: the command is still waiting for its reply
  CHECK(push.length == 19);      // the :1 after it is the reply

  CHECK(scan_resp("").status == ScanStatus::kIncomplete);
  CHECK(scan_resp("", true).status == ScanStatus::kIncomplete);  // a clean close
}

TEST_CASE("resp malformed replies") {
  const std::string_view bad[] = {
      "?what\r\n",       // unknown type
      ":12a\r\n",        // not an integer
      ":\r\n",           // empty integer
      "$abc\r\n",        // bad length
      "$-2\r\n",         // negative bulk length
      "!-1\r\n",         // only $ has a null form
      "$3\r\nabcd\r\n",  // data not followed by CRLF
      "*-2\r\n",         // negative count
      "%-1\r\n",         // only * has a null form
      "*16777217\r\n",   // above kMaxAggregateCount
      "$536870913\r\n",  // above kMaxBulkBytes
      "_x\r\n",          // null with a payload
      "#x\r\n",          // boolean other than t/f
  };
  for (const std::string_view bytes : bad) {
    CAPTURE(bytes);
    CHECK(scan_resp(bytes).status == ScanStatus::kMalformed);
  }
  const std::string long_line = "+" + std::string(RespProtocol::kMaxLineBytes + 1, 'x');
  CHECK(scan_resp(long_line).status == ScanStatus::kMalformed);
}

TEST_CASE("resp command framing is an array of bulk strings that the scanner delimits") {
  ByteBuffer out(8);
  const std::string_view args[] = {"SET", "k", std::string_view("a\0\r\nb", 5), ""};
  frame_resp_command(out, args);
  static constexpr char kExpected[] = "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\0\r\nb\r\n$0\r\n\r\n";
  CHECK(out.view() == std::string_view(kExpected, sizeof(kExpected) - 1));
  const ScanResult scan = scan_resp(out.view());
  REQUIRE(scan.status == ScanStatus::kComplete);
  CHECK(scan.length == out.size());
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("keys and values: sizes, format, determinism and hot keys") {
  TxnOptions options;
  options.keys = 1000;
  TxnGenerator generator(options, 0);
  CHECK(generator.key_of(0) == "k000000000000000");
  CHECK(generator.key_of(999) == "k000000000000999");
  std::set<std::string> keys;
  for (int i = 0; i < 2000; ++i) {
    const std::string key(generator.next_key());
    REQUIRE(key.size() == 16);
    REQUIRE(key < "k000000000001000");
    keys.insert(key);
    REQUIRE(generator.next_value().size() == 100);
  }
  CHECK(keys.size() > 800);  // 2000 draws over 1000 keys with a fixed seed: most are hit

  TxnGenerator same(options, 0);
  TxnGenerator other_stream(options, 1);
  const std::string first(same.next_key());
  CHECK(first == TxnGenerator(options, 0).next_key());
  CHECK(first != other_stream.next_key());
  CHECK(std::string(same.next_value()) != std::string(same.next_value()));

  options.keys = 1'000'000;
  options.hot_fraction = 0.1;
  options.hot_keys = 10;
  TxnGenerator hot(options, 3);
  int hot_draws = 0;
  for (int i = 0; i < 10'000; ++i) hot_draws += hot.next_key() < "k000000000000010";
  // 10% hot plus 1e-5 of the uniform draws; a fixed seed, so this is exact, not flaky.
  CHECK(hot_draws > 900);
  CHECK(hot_draws < 1100);
}

TEST_CASE("transaction options are validated") {
  const auto error_of = [](auto change) {
    TxnOptions o;
    change(o);
    return validate_txn_options(o);
  };
  CHECK(error_of([](TxnOptions&) {}).empty());
  CHECK_FALSE(error_of([](TxnOptions& o) { o.keys = 0; }).empty());
  CHECK_FALSE(error_of([](TxnOptions& o) { o.key_bytes = 4; }).empty());  // 1e6 keys need 6
  CHECK(error_of([](TxnOptions& o) { o.key_bytes = 7; }).empty());
  CHECK_FALSE(error_of([](TxnOptions& o) { o.hot_fraction = 1.5; }).empty());
  CHECK_FALSE(error_of([](TxnOptions& o) {
                o.hot_fraction = 0.1;
                o.hot_keys = 0;
              }).empty());
  CHECK_FALSE(error_of([](TxnOptions& o) { o.value_bytes = 100'001; }).empty());
}

TEST_CASE("find_json_uint reads plain and quoted integers by exact name") {
  CHECK(find_json_uint(R"({"status":"committed","version":1234,"x":1})", "version") == 1234);
  CHECK(find_json_uint(R"({"header":{"revision":"77"},"mod_revision":"5"})", "revision") == 77);
  CHECK(find_json_uint(R"({"mod_revision":"5","revision" : 6})", "revision") == 6);
  CHECK_FALSE(find_json_uint(R"({"version":"abc"})", "version").has_value());
  CHECK_FALSE(find_json_uint(R"({"versions":1})", "version").has_value());
  CHECK_FALSE(find_json_uint("", "version").has_value());
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("the weasel commit body is accepted by WeaselDB's own parser") {
  TxnOptions options;
  TxnGenerator generator(options, 0);
  std::string body;
  for (int i = 0; i < 50; ++i) {
    body.clear();
    const std::string key(generator.next_key());
    const std::string value(generator.next_value());
    append_weasel_commit_json(body, 1000 + i, key, value);
    Arena arena;
    CommitRequest request;
    CommitParseError error;
    REQUIRE_MESSAGE(parse_commit_request(body, false, arena, CommitLimits{}, request, error),
                    error.message);
    REQUIRE(request.preconditions.size() == 1);
    REQUIRE(request.operations.size() == 1);
    CHECK(request.preconditions[0].type == Precondition::Type::kPointRead);
    CHECK(request.preconditions[0].key == key);
    CHECK(request.preconditions[0].version == static_cast<uint64_t>(1000 + i));
    CHECK(request.operations[0].type == Operation::Type::kWrite);
    CHECK(request.operations[0].key == key);
    CHECK(request.operations[0].value == value);
  }
}

TEST_CASE("the etcd txn body is valid JSON in the gateway's shape") {
  TxnOptions options;
  options.value_bytes = 37;  // not a multiple of 3: padded base64
  TxnGenerator generator(options, 2);
  const std::string key(generator.next_key());
  const std::string value(generator.next_value());
  std::string body;
  append_etcd_txn_json(body, 41, key, value);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(body).get(doc) == simdjson::SUCCESS);
  simdjson::dom::object compare = doc["compare"].at(0).get_object().value();
  CHECK(decode(std::string_view(compare["key"].get_string().value())) == key);
  CHECK(std::string_view(compare["target"].get_string().value()) == "MOD");
  CHECK(std::string_view(compare["mod_revision"].get_string().value()) == "42");
  CHECK(std::string_view(compare["result"].get_string().value()) == "LESS");
  simdjson::dom::object put = doc["success"].at(0)["request_put"].get_object().value();
  CHECK(decode(std::string_view(put["key"].get_string().value())) == key);
  CHECK(decode(std::string_view(put["value"].get_string().value())) == value);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("weasel answers: outcomes and the read version") {
  WeaselCommitWorkload workload(TxnOptions{}, 0, "h:1", 5);
  Response r;
  r.status_code = 200;
  r.body = R"({"request_id":"x","status":"committed","version":9,"leader_id":"l"})";
  CHECK(workload.on_response(0, r) == Outcome::kSuccess);
  CHECK(workload.read_version() == 9);
  r.status_code = 409;
  r.body = R"({"request_id":"x","status":"conflict","version":12,"conflicts":[0]})";
  CHECK(workload.on_response(0, r) == Outcome::kConflict);
  CHECK(workload.read_version() == 12);
  r.body = R"({"request_id":"x","status":"too_old","version":3,"oldest_version":2})";
  CHECK(workload.on_response(0, r) == Outcome::kFailure);
  CHECK(workload.read_version() == 12);  // never goes back
  r.status_code = 503;
  r.body = R"({"error":"overloaded","message":"full"})";
  CHECK(workload.on_response(0, r) == Outcome::kFailure);

  ByteBuffer out(64);
  workload.next_request(0, out);
  const std::string_view request = out.view();
  CHECK(request.starts_with("POST /v1/commit HTTP/1.1\r\nHost: h:1\r\n"));
  CHECK(body_of(request).starts_with(R"({"read_version":12,)"));
}

TEST_CASE("etcd answers: a failed compare is a conflict") {
  EtcdTxnWorkload workload(TxnOptions{}, 0, "h:1", 5);
  Response r;
  r.status_code = 200;
  r.body = R"({"header":{"cluster_id":"1","revision":"20"},"succeeded":true,"responses":[]})";
  CHECK(workload.on_response(0, r) == Outcome::kSuccess);
  CHECK(workload.revision() == 20);
  r.body = R"({"header":{"cluster_id":"1","revision":"25","raft_term":"2"}})";
  CHECK(workload.on_response(0, r) == Outcome::kConflict);
  CHECK(workload.revision() == 25);
  r.status_code = 400;
  r.body = R"({"error":"bad","code":3})";
  CHECK(workload.on_response(0, r) == Outcome::kFailure);
  ByteBuffer out(64);
  workload.next_request(0, out);
  CHECK(out.view().starts_with("POST /v3/kv/txn HTTP/1.1\r\n"));
  CHECK(body_of(out.view()).find(R"("mod_revision":"26")") != std::string_view::npos);
}

TEST_CASE("redis answers: the script's integer says success or conflict") {
  RedisCasWorkload workload(TxnOptions{}, 0, std::string(40, 'a'), 5);
  CHECK(workload.on_response(0, resp_reply(":8\r\n")) == Outcome::kSuccess);
  CHECK(workload.read_version() == 8);
  CHECK(workload.on_response(0, resp_reply(":-30\r\n")) == Outcome::kConflict);
  CHECK(workload.read_version() == 30);
  CHECK(workload.on_response(0, resp_reply("-NOSCRIPT No matching script\r\n")) ==
        Outcome::kFailure);
  CHECK(workload.on_response(0, resp_reply("$2\r\n12\r\n")) == Outcome::kFailure);
  CHECK(workload.on_response(0, resp_reply(":0\r\n")) == Outcome::kFailure);

  ByteBuffer out(64);
  workload.next_request(0, out);
  const ScanResult command = scan_resp(out.view());  // a command is a RESP array too
  REQUIRE(command.status == ScanStatus::kComplete);
  CHECK(command.length == out.size());
  const std::string prefix =
      "*7\r\n$7\r\nEVALSHA\r\n$40\r\n" + std::string(40, 'a') + "\r\n$1\r\n2\r\n$16\r\nk";
  CHECK(out.view().starts_with(prefix));
  CHECK(out.view().find("$11\r\ncas:version\r\n$2\r\n30\r\n$100\r\n") != std::string_view::npos);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("workload and protocol choices on the command line") {
  const std::vector<std::string_view> args = {"--target",       "127.0.0.1:6379",
                                              "--requests",     "10",
                                              "--workload",     "redis-cas",
                                              "--keys",         "500",
                                              "--hot-fraction", "0.2",
                                              "--hot-keys",     "5",
                                              "--seed",         "9",
                                              "--value-bytes",  "64",
                                              "--protocol",     "resp"};
  const CliResult cli = parse_cli(args);
  REQUIRE(cli.error.empty());
  CHECK(cli.workload.name == "redis-cas");
  CHECK(cli.workload.protocol == "resp");
  CHECK(cli.workload.txn.keys == 500);
  CHECK(cli.workload.txn.hot_fraction == 0.2);
  CHECK(cli.workload.txn.hot_keys == 5);
  CHECK(cli.workload.txn.seed == 9);
  CHECK(cli.workload.txn.value_bytes == 64);
  const std::vector<std::vector<std::string_view>> bad = {
      {"--target", "h:1", "--requests", "5", "--workload", "nope"},
      {"--target", "h:1", "--requests", "5", "--workload", "redis-cas", "--protocol", "http"},
      {"--target", "h:1", "--requests", "5", "--workload", "etcd-txn", "--protocol", "resp"},
      {"--target", "h:1", "--requests", "5", "--protocol", "gopher"},
      {"--target", "h:1", "--requests", "5", "--workload", "weasel-commit", "--keys", "0"},
      {"--target", "h:1", "--requests", "5", "--hot-fraction", "x"}};
  for (const auto& arguments : bad) CHECK_FALSE(parse_cli(arguments).error.empty());
}

TEST_CASE("workload setup fails clearly when the target cannot answer") {
  // A bound socket that does not listen: connects to it are refused.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  const uint16_t dead_port = ntohs(address.sin_port);
  LoadOptions options = counted_run(dead_port, 1);
  WorkloadSpec spec;
  spec.name = "weasel-commit";
  CHECK(install_workload(spec, options).find("GET /v1/version") != std::string::npos);
  CHECK_FALSE(options.make_workload);
  close(fd);

  Responder wrong(http_answer(404, "Not Found", R"({"error":"not_found"})"));
  options.port = wrong.port();
  spec.name = "etcd-txn";
  CHECK(install_workload(spec, options).find("status 404") != std::string::npos);
}

TEST_CASE("a weasel-commit run starts from /v1/version and follows the answers") {
  std::atomic<uint64_t> commits{0};
  Responder server(
      [&commits](std::string_view request) {
        if (request.starts_with("GET /v1/version ")) {
          return http_answer(200, "OK", R"({"version":7,"leader_id":"l"})");
        }
        const uint64_t n = commits.fetch_add(1) + 1;
        if (n % 4 == 0) {
          return http_answer(409, "Conflict",
                             R"({"request_id":"r","status":"conflict","version":)" +
                                 std::to_string(100 + n) + R"(,"conflicts":[0]})");
        }
        return http_answer(
            200, "OK",
            R"({"request_id":"r","status":"committed","version":)" + std::to_string(100 + n) + "}");
      },
      testing::http_request_length);
  LoadOptions options = counted_run(server.port(), 400);
  WorkloadSpec spec;
  spec.name = "weasel-commit";
  REQUIRE(install_workload(spec, options).empty());
  CHECK(options.workload_name == "weasel-commit");
  const LoadReport report = run_load(options);
  server.stop();
  CHECK(report.errors.total() == 0);
  CHECK(report.requests == 400);
  CHECK(report.outcome(Outcome::kSuccess) == 300);
  CHECK(report.outcome(Outcome::kConflict) == 100);
  CHECK(report.outcome(Outcome::kFailure) == 0);
  CHECK(report.status_counts[409] == 100);

  REQUIRE(server.requests().size() == 401);  // the version lookup, then 400 commits
  uint64_t first_read = UINT64_MAX;
  uint64_t last_read = 0;
  for (size_t i = 1; i < server.requests().size(); ++i) {
    const std::string_view body = body_of(server.requests()[i]);
    Arena arena;
    CommitRequest request;
    CommitParseError error;
    REQUIRE_MESSAGE(parse_commit_request(body, false, arena, CommitLimits{}, request, error),
                    error.message);
    const uint64_t read_version = request.preconditions[0].version;
    first_read = std::min(first_read, read_version);
    last_read = std::max(last_read, read_version);
  }
  CHECK(first_read == 7);  // before any answer: the version the setup read
  CHECK(last_read > 400);  // later: versions from the answers
}

TEST_CASE("an etcd-txn run counts failed compares as conflicts") {
  std::atomic<uint64_t> txns{0};
  Responder server(
      [&txns](std::string_view request) {
        const std::string header = R"({"header":{"cluster_id":"1","revision":")";
        if (request.starts_with("POST /v3/kv/range ")) {
          return http_answer(200, "OK", header + R"(41","raft_term":"2"}})");
        }
        const uint64_t n = txns.fetch_add(1) + 1;
        const std::string revision = std::to_string(41 + n);
        return http_answer(
            200, "OK",
            header + revision + "\"}" + (n % 5 == 0 ? std::string("}") : R"(,"succeeded":true})"));
      },
      testing::http_request_length);
  LoadOptions options = counted_run(server.port(), 250);
  WorkloadSpec spec;
  spec.name = "etcd-txn";
  REQUIRE(install_workload(spec, options).empty());
  const LoadReport report = run_load(options);
  server.stop();
  CHECK(report.errors.total() == 0);
  CHECK(report.ok == 250);  // etcd answers 200 either way
  CHECK(report.outcome(Outcome::kSuccess) == 200);
  CHECK(report.outcome(Outcome::kConflict) == 50);
  REQUIRE(server.requests().size() == 251);
  CHECK(server.requests()[1].find(R"("mod_revision":"42")") != std::string::npos);
}

TEST_CASE("a redis-cas run loads the script and speaks RESP end to end") {
  const std::string sha(40, 'f');
  std::atomic<uint64_t> evals{0};
  Responder server(
      [&](std::string_view command) -> std::string {
        if (command.find("$6\r\nSCRIPT\r\n") != std::string_view::npos) {
          return "$40\r\n" + sha + "\r\n";
        }
        if (command.starts_with("*2\r\n$3\r\nGET\r\n")) return "$2\r\n17\r\n";
        const uint64_t n = evals.fetch_add(1) + 1;
        return ":" + std::string(n % 10 == 0 ? "-" : "") + std::to_string(17 + n) + "\r\n";
      },
      [](std::string_view in) {
        const ScanResult scan = RespProtocol().scan_response(in, RequestMeta{}, false);
        return scan.status == ScanStatus::kComplete ? scan.length : size_t{0};
      });
  LoadOptions options = counted_run(server.port(), 300);
  WorkloadSpec spec;
  spec.name = "redis-cas";
  REQUIRE(install_workload(spec, options).empty());
  const LoadReport report = run_load(options);
  server.stop();
  CHECK(report.errors.total() == 0);
  CHECK(report.ok == 300);
  CHECK(report.outcome(Outcome::kSuccess) == 270);
  CHECK(report.outcome(Outcome::kConflict) == 30);
  REQUIRE(server.requests().size() == 302);  // SCRIPT LOAD, GET, then 300 EVALSHA
  CHECK(server.requests()[0].find(redis_cas_script()) != std::string::npos);
  const std::string first_eval = server.requests()[2];
  CHECK(first_eval.starts_with("*7\r\n$7\r\nEVALSHA\r\n$40\r\n" + sha + "\r\n"));
  CHECK(first_eval.find("$11\r\ncas:version\r\n$2\r\n17\r\n$100\r\n") != std::string::npos);
}

}  // namespace weasel::load
