#include "net/http_server.hpp"

#include <string>

#include "core/assert.hpp"
#include "core/json_escape.hpp"
#include "net/http_response.hpp"
#include "net/server.hpp"

namespace weasel {
namespace {

// Per-connection HTTP state, kept in Connection::user_data.
struct HttpConnState {
  explicit HttpConnState(const HttpLimits& limits) : parser(limits) {}
  HttpRequestParser parser;
  bool continue_sent = false;
};

HttpConnState& state_of(Connection& conn) {
  WEASEL_ASSERT(conn.user_data != nullptr);
  return *static_cast<HttpConnState*>(conn.user_data);
}

void write_response(Connection& conn, const HttpRequest& request, int status,
                    std::string_view content_type, std::string_view body,
                    std::span<const HttpHeader> extra) {
  const bool keep_alive = request.keep_alive && !conn.closing();
  std::string& out = conn.output();
  append_response_head(out, status, content_type, body.size(), keep_alive, extra,
                       request.version_minor);
  if (request.method != HttpMethod::kHead) out += body;
  if (!keep_alive) conn.close_after_write();
}

// The request was answered: drop its bytes and get ready for the next one.
void finish_request(Connection& conn) {
  HttpConnState& st = state_of(conn);
  conn.input().consume(st.parser.consumed());
  st.parser.reset();
  st.continue_sent = false;
}

}  // namespace

void HttpExchange::respond(int status, std::string_view content_type, std::string_view body,
                           std::span<const HttpHeader> extra) {
  WEASEL_ASSERT(!responded_ && conn_ptr_ != nullptr);
  responded_ = true;
  write_response(*conn_ptr_, request_, status, content_type, body, extra);
}

void HttpExchange::respond_error(int status, std::string_view code, std::string_view message,
                                 std::span<const HttpHeader> extra) {
  WEASEL_ASSERT(!responded_ && conn_ptr_ != nullptr);
  std::string body = "{\"error\":";
  append_json_string(body, code);
  body += ",\"message\":";
  append_json_string(body, message);
  body += "}";
  respond(status, "application/json", body, extra);
}

std::unique_ptr<Connection> HttpExchange::take() {
  WEASEL_ASSERT(!responded_ && conn_ptr_ != nullptr);
  responded_ = true;
  return Server::take(conn_ptr_);
}

HttpServer::HttpServer(const HttpServerOptions& options, std::shared_ptr<HttpApplication> app)
    : options_(options), app_(std::move(app)) {
  WEASEL_ASSERT(app_ != nullptr);
}

void HttpServer::on_connection_established(Connection& conn) {
  conn.user_data = new HttpConnState(options_.limits);
}

void HttpServer::on_connection_closed(Connection& conn) {
  delete static_cast<HttpConnState*>(conn.user_data);
  conn.user_data = nullptr;
}

void HttpServer::on_data_arrived(std::unique_ptr<Connection>& conn_ptr) {
  // Several pipelined requests may be waiting; answer them in order until one is incomplete,
  // one is taken by the application, or the connection is to be closed.
  while (conn_ptr && !conn_ptr->closing() && !conn_ptr->input().empty()) {
    Connection& conn = *conn_ptr;
    HttpConnState& st = state_of(conn);
    const HttpParseStatus status = st.parser.parse(conn.input().data(), conn.input().size());
    if (status == HttpParseStatus::kNeedMore) {
      if (st.parser.headers_complete() && st.parser.request().expect_continue && !st.continue_sent) {
        append_continue(conn.output());
        st.continue_sent = true;
      }
      return;
    }
    if (status == HttpParseStatus::kError) {
      // The stream cannot be re-synchronized after a framing error: answer and close.
      const HttpParseError& err = st.parser.error();
      app_->on_protocol_error(err.status);
      append_error_response(conn.output(), err.status, err.code, err.message, false);
      conn.close_after_write();
      return;
    }
    HttpExchange exchange(st.parser.request(), conn_ptr);
    app_->handle(exchange);
    if (!conn_ptr) return;  // taken: answered later through respond_taken
    if (!exchange.responded()) {
      exchange.respond_error(500, "internal", "no response was produced");
    }
    finish_request(*conn_ptr);
  }
}

void HttpServer::respond_taken(std::unique_ptr<Connection> conn, int status,
                               std::string_view content_type, std::string_view body,
                               std::span<const HttpHeader> extra) {
  WEASEL_ASSERT(conn != nullptr);
  write_response(*conn, taken_request(*conn), status, content_type, body, extra);
  finish_request(*conn);
  Server::release_back_to_server(std::move(conn));
}

bool HttpServer::begin_stream_taken(Connection& conn, int status, std::string_view content_type,
                                    std::span<const HttpHeader> extra) {
  const HttpRequest& request = taken_request(conn);
  const bool chunked =
      append_stream_head(conn.output(), status, content_type, extra, request.version_minor);
  finish_request(conn);
  conn.close_after_write();
  conn.set_idle_timeout_exempt(true);
  return chunked;
}

void HttpServer::end_stream_taken(std::unique_ptr<Connection> conn, std::string_view final_bytes) {
  WEASEL_ASSERT(conn != nullptr);
  conn->output().append(final_bytes);
  // A client that stopped reading must not hold the connection forever.
  conn->set_idle_timeout_exempt(false);
  Server::release_back_to_server(std::move(conn));
}

const HttpRequest& HttpServer::taken_request(Connection& conn) {
  return state_of(conn).parser.request();
}

std::string HttpServer::refuse_message() {
  std::string out;
  const HttpHeader retry[] = {{"Retry-After", "1"}};
  append_error_response(out, 503, "overloaded", "too many connections (server.max_connections)",
                        false, retry);
  return out;
}

}  // namespace weasel
