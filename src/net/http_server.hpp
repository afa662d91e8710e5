#pragma once
// HTTP/1.1 on top of the protocol-agnostic Server: parses requests in place in a connection's
// input buffer, answers protocol errors itself, and hands every complete request to an
// HttpApplication (the api layer). Knows nothing of WeaselDB's routes.
//
// A request is answered either inline (HttpExchange::respond) or asynchronously: the
// application takes the connection (HttpExchange::take), and later completes it with
// HttpServer::respond_taken, which writes the answer and gives the connection back to the
// server. The request's bytes stay in the connection's input buffer until it is answered, so
// the request's views stay valid while the connection travels.

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "net/connection.hpp"
#include "net/connection_handler.hpp"
#include "net/http_parser.hpp"

namespace weasel {

class HttpExchange;

class HttpApplication {
 public:
  virtual ~HttpApplication() = default;
  // Runs on an I/O thread for each complete request; must respond or take the connection.
  virtual void handle(HttpExchange& exchange) = 0;
  // A request the HTTP layer rejected before the application saw it (400, 413, 414, ...).
  virtual void on_protocol_error(int /*status*/) {}
};

class HttpExchange {
 public:
  const HttpRequest& request() const { return request_; }
  Connection& connection() { return *conn_ptr_; }
  Arena& arena() { return conn_ptr_->arena(); }

  void respond(int status, std::string_view content_type, std::string_view body,
               std::span<const HttpHeader> extra = {});
  void respond_error(int status, std::string_view code, std::string_view message,
                     std::span<const HttpHeader> extra = {});
  // Takes the connection off the I/O thread. The caller must eventually pass it to
  // HttpServer::respond_taken (or Server::release_back_to_server after closing it).
  std::unique_ptr<Connection> take();

  bool responded() const { return responded_; }

 private:
  friend class HttpServer;
  HttpExchange(const HttpRequest& request, std::unique_ptr<Connection>& conn_ptr)
      : request_(request), conn_ptr_(conn_ptr) {}

  const HttpRequest& request_;
  std::unique_ptr<Connection>& conn_ptr_;
  bool responded_ = false;
};

struct HttpServerOptions {
  HttpLimits limits;
};

class HttpServer : public ConnectionHandler {
 public:
  HttpServer(const HttpServerOptions& options, std::shared_ptr<HttpApplication> app);

  void on_connection_established(Connection& conn) override;
  void on_connection_closed(Connection& conn) override;
  void on_data_arrived(std::unique_ptr<Connection>& conn_ptr) override;

  // Answers the request a taken connection carries and hands the connection back.
  static void respond_taken(std::unique_ptr<Connection> conn, int status,
                            std::string_view content_type, std::string_view body,
                            std::span<const HttpHeader> extra = {});
  // Streams (SSE): answers the request a taken connection carries with the head of a body
  // that lasts until the connection closes (see append_stream_head), queued in the
  // connection's output, and exempts the connection from the idle timeout. Whoever streams
  // the body writes to the socket directly, then ends with end_stream_taken. Returns whether
  // the body must be framed as chunks.
  static bool begin_stream_taken(Connection& conn, int status, std::string_view content_type,
                                 std::span<const HttpHeader> extra = {});
  // Queues `final_bytes` (the end of the body), closes the connection once they are written
  // (or it idles out) and gives it back to the server.
  static void end_stream_taken(std::unique_ptr<Connection> conn, std::string_view final_bytes);
  // The request a taken connection carries (valid until respond_taken).
  static const HttpRequest& taken_request(Connection& conn);

  // What a connection refused for max_connections receives (for ServerOptions).
  static std::string refuse_message();

 private:
  const HttpServerOptions options_;
  const std::shared_ptr<HttpApplication> app_;
};

}  // namespace weasel
