#include "api/http_api.hpp"

#include <charconv>
#include <chrono>
#include <string>

#include "core/assert.hpp"
#include "core/json_escape.hpp"

namespace weasel {
namespace {

constexpr std::string_view kJson = "application/json";

// Appends `"version":V,"leader_id":"L"` (shared by /v1/version and /health); `leader_json`
// is the leader id already as a JSON string.
void append_version_fields(std::string& body, uint64_t version, std::string_view leader_json) {
  char digits[24];
  const auto r = std::to_chars(digits, digits + sizeof(digits), version);
  body += "\"version\":";
  body.append(digits, r.ptr);
  body += ",\"leader_id\":";
  body += leader_json;
}

}  // namespace

HttpApi::HttpApi(ApiContext context)
    : ctx_(std::move(context)), http_metrics_(*ctx_.metrics) {
  WEASEL_ASSERT(ctx_.metrics != nullptr);
  append_json_string(leader_json_, ctx_.leader_id);
}

void HttpApi::on_protocol_error(int status) { http_metrics_.record_status(Route::kUnmatched, status); }

void HttpApi::handle(HttpExchange& exchange) {
  const auto started = std::chrono::steady_clock::now();
  const HttpRequest& req = exchange.request();
  const RouteMatch match = match_route(req.path);
  int status = 0;
  std::string_view allow;
  if (match.route == Route::kUnmatched) {
    status = 404;
    exchange.respond_error(status, "not_found", "no such endpoint: " + std::string(req.path));
  } else if (!method_allowed(match, req.method, allow)) {
    status = 405;
    const HttpHeader extra[] = {{"Allow", allow}};
    exchange.respond_error(status, "method_not_allowed",
                           std::string(req.method_name) + " is not allowed on " +
                               std::string(req.path) + " (allowed: " + std::string(allow) + ")",
                           extra);
  } else {
    switch (match.route) {
      case Route::kVersion:
        handle_version(exchange);
        status = 200;
        break;
      case Route::kHealth:
        handle_health(exchange);
        status = ctx_.healthy() ? 200 : 503;
        break;
      case Route::kMetrics:
        status = ctx_.metrics_enabled ? 200 : 404;
        handle_metrics(exchange);
        break;
      case Route::kCommit:
      case Route::kStatus:
        if (ctx_.pipeline == nullptr) {
          status = 501;
          exchange.respond_error(status, "not_implemented", "this server has no commit pipeline");
          break;
        }
        status = match.route == Route::kCommit ? handle_commit(exchange, started)
                                               : handle_status(exchange, started);
        if (status == 0) return;  // the pipeline answers and records it
        break;
      case Route::kSubscribe:
        if (ctx_.hub == nullptr) {
          status = 501;
          exchange.respond_error(status, "not_implemented", "this server has no subscription hub");
          break;
        }
        status = handle_subscribe(exchange);
        break;
      case Route::kRetention:
        if (ctx_.retention == nullptr) {
          status = 501;
          exchange.respond_error(status, "not_implemented", "this server has no retention");
          break;
        }
        status = handle_retention(exchange, match.param);
        break;
      default:
        status = 501;
        exchange.respond_error(status, "not_implemented",
                               std::string(req.path) + " is not implemented yet");
        break;
    }
  }
  http_metrics_.record(match.route, status, std::chrono::steady_clock::now() - started);
}

void HttpApi::handle_version(HttpExchange& exchange) {
  // The cheapest route, polled by clients: no allocation once the buffer has grown.
  thread_local std::string body;
  body.clear();
  body.push_back('{');
  append_version_fields(body, ctx_.committed_version(), leader_json_);
  body += "}";
  exchange.respond(200, kJson, body);
}

void HttpApi::handle_health(HttpExchange& exchange) {
  const bool ok = ctx_.healthy();
  std::string body = ok ? "{\"status\":\"ok\"," : "{\"status\":\"unavailable\",";
  append_version_fields(body, ctx_.committed_version(), leader_json_);
  body += "}";
  if (ok) {
    exchange.respond(200, kJson, body);
  } else {
    const HttpHeader retry[] = {{"Retry-After", "1"}};
    exchange.respond(503, kJson, body, retry);
  }
}

void HttpApi::handle_metrics(HttpExchange& exchange) {
  if (!ctx_.metrics_enabled) {
    exchange.respond_error(404, "not_found", "metrics are disabled (metrics.enabled = false)");
    return;
  }
  std::string body;
  ctx_.metrics->render(body);
  exchange.respond(200, "text/plain; version=0.0.4; charset=utf-8", body);
}

}  // namespace weasel
