#pragma once
// The WeaselDB HTTP API: routes each request (gperf perfect hash, routes.hpp) to the handler
// of its endpoint group and records the HTTP metrics. Endpoints that later milestones add
// answer 501 until they exist.

#include <cstdint>
#include <functional>
#include <string>

#include "api/http_metrics.hpp"
#include "net/http_server.hpp"

namespace weasel {

struct ApiContext {
  MetricsRegistry* metrics = nullptr;  // required
  bool metrics_enabled = true;
  std::string leader_id;               // fresh per process start
  // Latest durably committed version (0 until the commit pipeline exists).
  std::function<uint64_t()> committed_version = [] { return uint64_t{0}; };
  // Whether the server can commit right now (drives /health).
  std::function<bool()> healthy = [] { return true; };
};

class HttpApi : public HttpApplication {
 public:
  explicit HttpApi(ApiContext context);
  void handle(HttpExchange& exchange) override;
  void on_protocol_error(int status) override;

 private:
  void handle_version(HttpExchange& exchange);
  void handle_health(HttpExchange& exchange);
  void handle_metrics(HttpExchange& exchange);

  ApiContext ctx_;
  HttpMetrics http_metrics_;
};

}  // namespace weasel
