// GET /v1/subscribe (SPEC section 3): validates the request on the I/O thread, answers the
// stream's head, and hands the connection to the subscription hub, which streams the log as
// Server-Sent Events until the client leaves, falls too far behind, or the server stops.
#include <chrono>
#include <string>

#include <fmt/format.h>

#include "api/http_api.hpp"
#include "api/query.hpp"
#include "core/base64.hpp"
#include "core/json_escape.hpp"
#include "net/http_server.hpp"
#include "stream/hub.hpp"

namespace weasel {
namespace {

// The hub's handle on a connection taken from the server.
class ConnectionSink final : public SubscriberSink {
 public:
  explicit ConnectionSink(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {}
  ~ConnectionSink() override {
    if (conn_) HttpServer::end_stream_taken(std::move(conn_), {});
  }
  int fd() const override { return conn_->fd(); }
  std::string take_preamble() override { return conn_->take_output(); }
  void finish(std::string final_bytes) override {
    HttpServer::end_stream_taken(std::move(conn_), final_bytes);
  }

 private:
  std::unique_ptr<Connection> conn_;
};

// Decodes a base64 key parameter; empty optional with `error` set when invalid.
std::optional<std::string> decode_key(std::string_view name, std::string_view text,
                                      size_t max_key_bytes, std::string& error) {
  std::string out(base64_decoded_size_max(text.size()), '\0');
  size_t bad = 0;
  const ptrdiff_t n = base64_decode(text, out.data(), &bad);
  if (n < 0) {
    error = fmt::format("{}: invalid base64 (at offset {})", name, bad);
    return std::nullopt;
  }
  out.resize(static_cast<size_t>(n));
  if (out.size() > max_key_bytes) {
    error = fmt::format("{}: {} bytes, above commit.max_key_bytes ({})", name, out.size(),
                        max_key_bytes);
    return std::nullopt;
  }
  return out;
}

}  // namespace

int HttpApi::handle_subscribe(HttpExchange& exchange) {
  const HttpRequest& req = exchange.request();
  static constexpr std::string_view kAllowed[] = {"after", "durable", "begin", "end"};
  QueryParam params[4];
  std::string error;
  auto count = parse_query(req.query, kAllowed, exchange.arena(), params, error);
  const auto bad_request = [&exchange](const std::string& message) {
    exchange.respond_error(400, "bad_request", message);
    return 400;
  };
  if (!count) return bad_request(error);
  const std::span<const QueryParam> parsed(params, *count);

  SubscriptionRequest sub;
  if (auto durable = find_param(parsed, "durable")) {
    if (*durable != "true" && *durable != "false") {
      return bad_request("durable: expected true or false");
    }
    sub.durable = *durable == "true";
  }
  const auto begin = find_param(parsed, "begin");
  const auto end = find_param(parsed, "end");
  if (begin || end) {
    sub.filter.active = true;
    if (begin) {
      auto key = decode_key("begin", *begin, ctx_.commit_limits.max_key_bytes, error);
      if (!key) return bad_request(error);
      sub.filter.begin = std::move(*key);
    }
    if (end) {
      auto key = decode_key("end", *end, ctx_.commit_limits.max_key_bytes, error);
      if (!key) return bad_request(error);
      sub.filter.end = std::move(*key);
      sub.filter.end_is_infinite = false;
      if (sub.filter.end <= sub.filter.begin) return bad_request("end: must be greater than begin");
    }
  }

  // Where to start: Last-Event-ID (an EventSource reconnecting) wins over `after`.
  const uint64_t tail = ctx_.hub->tail_version(sub.durable);
  std::string_view after_name = "after";
  std::optional<std::string_view> after_text = find_param(parsed, "after");
  if (auto last_event_id = req.header("Last-Event-ID")) {
    after_name = "Last-Event-ID";
    after_text = *last_event_id;
  }
  sub.after = tail;
  if (after_text) {
    auto v = parse_version(*after_text);
    if (!v) return bad_request(fmt::format("{}: expected a version (an integer below 2^53)", after_name));
    sub.after = *v;
  }
  if (sub.after > tail) {
    return bad_request(fmt::format("{}: future_version ({} is above the latest {}version {})",
                                   after_name, sub.after, sub.durable ? "committed " : "", tail));
  }
  const uint64_t oldest = ctx_.oldest_version();
  if (sub.after < oldest) {
    std::string body = "{\"error\":\"log_truncated\",\"message\":";
    append_json_string(body, fmt::format("{}: history at or below {} was truncated by retention",
                                         after_name, oldest));
    body += fmt::format(",\"oldest_version\":{}}}", oldest);
    exchange.respond(410, "application/json", body);
    return 410;
  }
  const HttpHeader headers[] = {{"Cache-Control", "no-store"}, {"X-Accel-Buffering", "no"}};
  if (req.method == HttpMethod::kHead) {
    exchange.respond(200, "text/event-stream", {}, headers);
    return 200;
  }
  std::unique_ptr<Connection> conn = exchange.take();
  sub.chunked = HttpServer::begin_stream_taken(*conn, 200, "text/event-stream", headers);
  ctx_.hub->add(sub, std::make_unique<ConnectionSink>(std::move(conn)));
  return 200;
}

}  // namespace weasel
