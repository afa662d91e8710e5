// POST /v1/commit and GET /v1/status (SPEC section 3): parse on the I/O thread, then hand the
// connection to the commit pipeline; the pipeline's release stage answers and gives the
// connection back to the server.
#include <chrono>
#include <random>
#include <string>

#include "api/http_api.hpp"
#include "api/query.hpp"
#include "commit/commit_parser.hpp"
#include "core/json_escape.hpp"
#include "net/server.hpp"

#include <simdjson.h>

static_assert(weasel::InputBuffer::kPaddingBytes >= simdjson::SIMDJSON_PADDING,
              "request bodies are parsed in place: the input buffer must pad for simdjson");

namespace weasel {
namespace {

constexpr std::string_view kJson = "application/json";

// A random UUID (v4) for commits without a request_id: unique across processes and restarts.
std::string_view generate_request_id(Arena& arena) {
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   (uint64_t(std::random_device{}()) << 32)};
  const uint64_t hi = (rng() & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  const uint64_t lo = (rng() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char* out = static_cast<char*>(arena.allocate(36, 1));
  static constexpr char kHex[] = "0123456789abcdef";
  size_t n = 0;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out[n++] = '-';
    const uint64_t word = i < 16 ? hi : lo;
    out[n++] = kHex[(word >> (60 - 4 * (i % 16))) & 15];
  }
  return {out, n};
}

void append_field(std::string& out, std::string_view name, std::string_view json_value) {
  out += ",\"";
  out += name;
  out += "\":";
  out += json_value;
}

void append_uint(std::string& out, std::string_view name, uint64_t v) {
  append_field(out, name, std::to_string(v));
}

std::string_view status_name(CommitOutcome outcome) {
  switch (outcome) {
    case CommitOutcome::kCommitted:
    case CommitOutcome::kDuplicate:
      return "committed";
    case CommitOutcome::kConflict:
      return "conflict";
    case CommitOutcome::kTooOld:
      return "too_old";
    case CommitOutcome::kLeaderChanged:
      return "leader_changed";
    case CommitOutcome::kNotCommitted:
      return "not_committed";
    case CommitOutcome::kFutureVersion:
    case CommitOutcome::kUnavailable:
      break;
  }
  return "";
}

}  // namespace

// What a pipeline completion needs, allocated in the connection's arena (so nothing outlives
// the request).
struct HttpApi::PendingRequest {
  HttpApi* api;
  Connection* conn;
  std::chrono::steady_clock::time_point started;
  Route route;
  std::string_view request_id;
};

void HttpApi::answer_taken(void* pending_ptr, int status, std::string_view body, bool retry_after) {
  auto* pending = static_cast<PendingRequest*>(pending_ptr);
  HttpApi* api = pending->api;
  const Route route = pending->route;
  const auto started = pending->started;
  std::unique_ptr<Connection> conn(pending->conn);
  const HttpHeader retry[] = {{"Retry-After", "1"}};
  HttpServer::respond_taken(std::move(conn), status, kJson, body,
                            retry_after ? std::span<const HttpHeader>(retry) : std::span<const HttpHeader>());
  api->http_metrics_.record(route, status, std::chrono::steady_clock::now() - started);
}

void HttpApi::commit_done(void* pending_ptr, const CommitResult& r) {
  auto* pending = static_cast<PendingRequest*>(pending_ptr);
  HttpApi* api = pending->api;
  thread_local std::string body;
  body.clear();
  if (r.outcome == CommitOutcome::kFutureVersion) {
    body = "{\"error\":\"bad_request\",\"message\":";
    append_json_string(body, "preconditions[" + std::to_string(r.future_precondition) +
                                 "].version: future_version (above the latest version " +
                                 std::to_string(r.oldest_version) + ")");
    body += "}";
    answer_taken(pending_ptr, 400, body, false);
    return;
  }
  if (r.outcome == CommitOutcome::kUnavailable) {
    body = "{\"error\":\"overloaded\",\"message\":";
    append_json_string(body, "the log cannot be written: " + std::string(r.message));
    body += "}";
    answer_taken(pending_ptr, 503, body, true);
    return;
  }
  body = "{\"request_id\":";
  append_json_string(body, r.request_id);
  body += ",\"status\":\"";
  body += status_name(r.outcome);
  body += "\"";
  append_uint(body, "version", r.version);
  if (r.outcome == CommitOutcome::kDuplicate) append_field(body, "duplicate", "true");
  if (r.outcome == CommitOutcome::kTooOld) append_uint(body, "oldest_version", r.oldest_version);
  if (r.outcome == CommitOutcome::kConflict) {
    body += ",\"conflicts\":[";
    for (size_t i = 0; i < r.conflicts.size(); ++i) {
      if (i) body += ',';
      body += std::to_string(r.conflicts[i]);
    }
    body += ']';
  }
  body += ",\"leader_id\":";
  body += api->leader_json_;
  body += '}';
  const bool ok = r.outcome == CommitOutcome::kCommitted || r.outcome == CommitOutcome::kDuplicate;
  answer_taken(pending_ptr, ok ? 200 : 409, body, false);
}

void HttpApi::status_done(void* pending_ptr, const StatusResult& r) {
  thread_local std::string body;
  body.clear();
  if (r.outcome == StatusOutcome::kUnavailable) {
    body = "{\"error\":\"overloaded\",\"message\":";
    append_json_string(body, "status lookup failed: " + r.message);
    body += "}";
    answer_taken(pending_ptr, 503, body, true);
    return;
  }
  auto* pending = static_cast<PendingRequest*>(pending_ptr);
  body = "{\"request_id\":";
  append_json_string(body, pending->request_id);
  switch (r.outcome) {
    case StatusOutcome::kCommitted:
      body += ",\"status\":\"committed\"";
      append_uint(body, "version", r.version);
      break;
    case StatusOutcome::kNotCommitted:
      body += ",\"status\":\"not_committed\"";
      break;
    case StatusOutcome::kLogTruncated:
      body += ",\"status\":\"log_truncated\"";
      append_uint(body, "oldest_version", r.oldest_version);
      break;
    case StatusOutcome::kUnavailable:
      break;
  }
  body += '}';
  answer_taken(pending_ptr, 200, body, false);
}

HttpApi::PendingRequest* HttpApi::take_for_pipeline(HttpExchange& exchange, Route route,
                                                    std::chrono::steady_clock::time_point started,
                                                    std::string_view request_id) {
  Arena& arena = exchange.arena();
  auto* pending = arena.make<PendingRequest>();
  pending->api = this;
  pending->route = route;
  pending->started = started;
  pending->request_id = request_id;
  pending->conn = exchange.take().release();
  return pending;
}

void HttpApi::refuse_overloaded(PendingRequest* pending) {
  answer_taken(pending, 503,
               "{\"error\":\"overloaded\",\"message\":\"the commit pipeline is full "
               "(commit.pipeline_capacity); retry after Retry-After\"}",
               true);
}

int HttpApi::handle_commit(HttpExchange& exchange, std::chrono::steady_clock::time_point started) {
  Arena& arena = exchange.arena();
  auto* request = arena.make<CommitRequest>();
  CommitParseError error;
  // The body lies in the connection's input buffer, which always has readable padding after
  // its data (Connection::kInputPaddingBytes >= simdjson's), so simdjson reads it in place.
  if (!parse_commit_request(exchange.request().body, true, arena, ctx_.commit_limits, *request,
                            error)) {
    exchange.respond_error(400, "bad_request", error.message);
    return 400;
  }
  const std::string_view request_id =
      request->request_id.empty() ? generate_request_id(arena) : request->request_id;
  PendingRequest* pending = take_for_pipeline(exchange, Route::kCommit, started, request_id);
  if (!ctx_.pipeline->submit_commit(*request, request_id, pending->conn->arena(), &commit_done,
                                    pending)) {
    refuse_overloaded(pending);
  }
  return 0;  // answered (and counted) by the completion
}

int HttpApi::handle_status(HttpExchange& exchange, std::chrono::steady_clock::time_point started) {
  Arena& arena = exchange.arena();
  static constexpr std::string_view kAllowed[] = {"request_id", "min_version"};
  QueryParam params[2];
  std::string error;
  auto count = parse_query(exchange.request().query, kAllowed, arena, params, error);
  if (!count) {
    exchange.respond_error(400, "bad_request", error);
    return 400;
  }
  std::span<const QueryParam> parsed(params, *count);
  auto request_id = find_param(parsed, "request_id");
  if (!request_id) {
    exchange.respond_error(400, "bad_request", "request_id: required");
    return 400;
  }
  if (std::string problem = check_request_id(*request_id, ctx_.commit_limits); !problem.empty()) {
    exchange.respond_error(400, "bad_request", "request_id: " + problem);
    return 400;
  }
  uint64_t min_version = 0;
  if (auto text = find_param(parsed, "min_version")) {
    auto v = parse_version(*text);
    if (!v) {
      exchange.respond_error(400, "bad_request",
                             "min_version: expected a version (an integer below 2^53)");
      return 400;
    }
    min_version = *v;
  }
  PendingRequest* pending = take_for_pipeline(exchange, Route::kStatus, started, *request_id);
  if (!ctx_.pipeline->submit_status(*request_id, min_version, &status_done, pending)) {
    refuse_overloaded(pending);
  }
  return 0;
}

}  // namespace weasel
