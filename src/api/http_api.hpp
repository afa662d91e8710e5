#pragma once
// The WeaselDB HTTP API: routes each request (gperf perfect hash, routes.hpp) to the handler
// of its endpoint group and records the HTTP metrics. Endpoints that later milestones add
// answer 501 until they exist.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "api/http_metrics.hpp"
#include "commit/commit_pipeline.hpp"
#include "commit/commit_request.hpp"
#include "log/retention.hpp"
#include "net/http_server.hpp"
#include "stream/hub.hpp"

namespace weasel {

struct ApiContext {
  MetricsRegistry* metrics = nullptr;  // required
  bool metrics_enabled = true;
  std::string leader_id;               // fresh per process start
  // Latest durably committed version (0 until the commit pipeline exists).
  std::function<uint64_t()> committed_version = [] { return uint64_t{0}; };
  // Whether the server can commit right now (drives /health).
  std::function<bool()> healthy = [] { return true; };
  // The commit pipeline (POST /v1/commit, GET /v1/status); those routes answer 501 without.
  CommitPipeline* pipeline = nullptr;
  CommitLimits commit_limits;
  // The subscription hub (GET /v1/subscribe answers 501 without) and the log's truncation
  // floor (subscriptions below it are 410).
  Hub* hub = nullptr;
  std::function<uint64_t()> oldest_version = [] { return uint64_t{0}; };
  // Retention policies (/v1/retention/); those routes answer 501 without. Borrowed.
  RetentionManager* retention = nullptr;
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
  // Returns the status answered (the stream's 200 once it is handed to the hub).
  int handle_subscribe(HttpExchange& exchange);

  // Commit and status requests are answered by the pipeline. These return the status they
  // answered inline with, or 0 when the pipeline answers (and counts) later.
  struct PendingRequest;
  int handle_commit(HttpExchange& exchange, std::chrono::steady_clock::time_point started);
  int handle_status(HttpExchange& exchange, std::chrono::steady_clock::time_point started);
  PendingRequest* take_for_pipeline(HttpExchange& exchange, Route route,
                                    std::chrono::steady_clock::time_point started,
                                    std::string_view request_id);
  static void refuse_overloaded(PendingRequest* pending);
  static void answer_taken(void* pending, int status, std::string_view body, bool retry_after);
  static void commit_done(void* pending, const CommitResult& result);
  static void status_done(void* pending, const StatusResult& result);
  // /v1/retention/ (retention_api.cpp); `id` is empty for the collection. Returns the status.
  int handle_retention(HttpExchange& exchange, std::string_view id);

  ApiContext ctx_;
  std::string leader_json_;  // ctx_.leader_id as a JSON string, escaped once
  HttpMetrics http_metrics_;
};

}  // namespace weasel
