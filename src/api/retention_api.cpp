// /v1/retention/ (SPEC section 3): PUT, GET and DELETE of one policy, GET of the list. Answered
// inline on the I/O thread: a policy change is one metadata write (an fsync), and no handler
// ever waits for a truncation pass (RetentionManager's contract).
#include <fmt/format.h>
#include <simdjson.h>

#include <ctime>
#include <iterator>
#include <string>

#include "api/http_api.hpp"
#include "core/json_escape.hpp"
#include "log/retention.hpp"

namespace weasel {
namespace {

namespace ondemand = simdjson::ondemand;
using simdjson::error_code;

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kFieldList = "after_version, keep_seconds, keep_versions";

struct PolicyBody {
  RetentionKind kind = RetentionKind::kAfterVersion;
  uint64_t value = 0;
};

// A policy field's value: a JSON integer in 0..max of its kind.
bool read_value(ondemand::value& value, RetentionKind kind, std::string_view name, uint64_t& out,
                std::string& error) {
  ondemand::json_type type;
  error_code e = value.type().get(type);
  if (!e && type == ondemand::json_type::number) e = value.get_uint64().get(out);
  if (e == simdjson::NUMBER_OUT_OF_RANGE) {
    error = fmt::format("{}: out of range (allowed 0..{})", name,
                        kind == RetentionKind::kKeepSeconds ? kMaxKeepSeconds : kMaxRetentionVersion);
    return false;
  }
  if (e || type != ondemand::json_type::number) {
    error = fmt::format("{}: expected a non-negative integer", name);
    return false;
  }
  if (std::string problem = check_policy_value(kind, out); !problem.empty()) {
    error = fmt::format("{}: {}", name, problem);
    return false;
  }
  return true;
}

// Parses a policy body strictly: one JSON object with exactly one of the three fields, a
// non-negative integer in range. `error` names the field (or "body").
bool parse_policy_body(std::string_view json, PolicyBody& out, std::string& error) {
  thread_local ondemand::parser parser;  // keeps its buffers across requests
  ondemand::document doc;
  // The body sits in the connection's input buffer, padded for simdjson (commit_api.cpp).
  error_code e =
      parser.iterate(json.data(), json.size(), json.size() + simdjson::SIMDJSON_PADDING).get(doc);
  ondemand::object root;
  if (!e) e = doc.get_object().get(root);
  if (e == simdjson::INCORRECT_TYPE) {
    error = "body: expected a JSON object";
    return false;
  }
  bool seen = false;
  if (!e) {
    for (auto field_result : root) {
      if ((e = field_result.error())) break;
      ondemand::field& field = field_result.value_unsafe();
      std::string_view name;
      if ((e = field.unescaped_key().get(name))) break;
      std::optional<RetentionKind> kind = retention_kind_from_field(name);
      if (!kind) {
        error = fmt::format("{}: unknown field (allowed: one of {})", name, kFieldList);
        return false;
      }
      if (seen) {
        error = *kind == out.kind
                    ? fmt::format("{}: duplicate field", name)
                    : fmt::format("{}: only one of {} may be given", name, kFieldList);
        return false;
      }
      if (!read_value(field.value(), *kind, name, out.value, error)) return false;
      seen = true;
      out.kind = *kind;
    }
  }
  if (!e && doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    error = "body: content after the top-level object";
    return false;
  }
  if (e) {
    error = fmt::format("body: invalid JSON: {}", simdjson::error_message(e));
    return false;
  }
  if (!seen) {
    error = fmt::format("body: one of {} is required", kFieldList);
    return false;
  }
  return true;
}

// RFC 3339, UTC, milliseconds: 2026-11-21T10:00:00.123Z.
void append_timestamp(std::string& out, int64_t unix_ms) {
  const int64_t seconds = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  const int64_t millis = unix_ms - seconds * 1000;
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  fmt::format_to(std::back_inserter(out), "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 millis);
}

void append_policy(std::string& out, const RetentionPolicy& policy) {
  out += "{\"policy_id\":";
  append_json_string(out, policy.id);
  fmt::format_to(std::back_inserter(out), ",\"{}\":{},\"floor_version\":{},\"created_at\":",
                 retention_field_name(policy.kind), policy.value, policy.floor_version);
  append_timestamp(out, policy.created_at_ms);
  out += ",\"updated_at\":";
  append_timestamp(out, policy.updated_at_ms);
  out += '}';
}

// A store that cannot write its metadata (disk full, failed store): nothing changed.
int respond_store_error(HttpExchange& exchange, const Status& status) {
  const HttpHeader retry[] = {{"Retry-After", "1"}};
  exchange.respond_error(503, "overloaded",
                         "the retention policy could not be stored: " + status.to_string(), retry);
  return 503;
}

int handle_put(HttpExchange& exchange, RetentionManager& retention, std::string_view id) {
  PolicyBody body;
  std::string error;
  if (!parse_policy_body(exchange.request().body, body, error)) {
    exchange.respond_error(400, "bad_request", error);
    return 400;
  }
  RetentionPutResult result = retention.put(id, body.kind, body.value);
  switch (result.status.code()) {
    case StatusCode::kOk: {
      std::string out;
      append_policy(out, result.policy);
      const int status = result.created ? 201 : 200;
      exchange.respond(status, kJson, out);
      return status;
    }
    case StatusCode::kInvalidArgument:
      exchange.respond_error(400, "bad_request", result.status.message());
      return 400;
    case StatusCode::kLogTruncated: {
      std::string out = "{\"error\":\"log_truncated\",\"message\":";
      append_json_string(out, result.status.message());
      fmt::format_to(std::back_inserter(out), ",\"oldest_version\":{}}}", result.oldest_version);
      exchange.respond(410, kJson, out);
      return 410;
    }
    default:
      return respond_store_error(exchange, result.status);
  }
}

int handle_list(HttpExchange& exchange, RetentionManager& retention) {
  RetentionSnapshot all = retention.list();
  std::string out = "{\"policies\":[";
  for (size_t i = 0; i < all.policies.size(); ++i) {
    if (i > 0) out += ',';
    append_policy(out, all.policies[i]);
  }
  fmt::format_to(std::back_inserter(out), "],\"oldest_version\":{},\"latest_version\":{}}}",
                 all.oldest_version, all.latest_version);
  exchange.respond(200, kJson, out);
  return 200;
}

}  // namespace

int HttpApi::handle_retention(HttpExchange& exchange, std::string_view id) {
  RetentionManager& retention = *ctx_.retention;
  const HttpMethod method = exchange.request().method;
  if (id.empty()) return handle_list(exchange, retention);  // routes allow only GET/HEAD here
  if (std::string problem = check_policy_id(id); !problem.empty()) {
    exchange.respond_error(400, "bad_request", "policy_id: " + problem);
    return 400;
  }
  if (method == HttpMethod::kPut) return handle_put(exchange, retention, id);
  if (method == HttpMethod::kDelete) {
    Status s = retention.remove(id);
    if (s.code() == StatusCode::kNotFound) {
      exchange.respond_error(404, "not_found", s.message());
      return 404;
    }
    if (!s.ok()) return respond_store_error(exchange, s);
    exchange.respond(204, "", "");
    return 204;
  }
  std::optional<RetentionPolicy> policy = retention.get(id);
  if (!policy) {
    exchange.respond_error(404, "not_found", fmt::format("no retention policy \"{}\"", id));
    return 404;
  }
  std::string out;
  append_policy(out, *policy);
  exchange.respond(200, kJson, out);
  return 200;
}

}  // namespace weasel
