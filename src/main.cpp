// weaseldb: wiring only. Parses the command line and config, builds the modules, serves until
// SIGTERM/SIGINT, then stops gracefully (exit 0). Exit codes: 2 invalid configuration, 3 the
// log cannot be opened (corruption, locked by another process, I/O error), 1 other start-up
// failures (e.g. the port is taken).

#include <bit>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <sys/random.h>

#include <spdlog/spdlog.h>

#include "api/http_api.hpp"
#include "commit/commit_pipeline.hpp"
#include "log/local_log_store.hpp"
#include "log/retention.hpp"
#include "config/cli.hpp"
#include "config/config.hpp"
#include "metrics/metrics.hpp"
#include "net/http_server.hpp"
#include "net/server.hpp"
#include "stream/hub.hpp"

namespace {

// A fresh id per start (SPEC: leader_id changes every time a process becomes leader).
std::string new_leader_id() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    const ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

weasel::ServerOptions server_options(const weasel::Config& config) {
  weasel::ServerOptions o;
  for (const auto& i : config.server.interfaces) {
    weasel::ListenAddress a;
    a.kind = i.kind == weasel::InterfaceConfig::Kind::kUnix ? weasel::ListenAddress::Kind::kUnix
                                                            : weasel::ListenAddress::Kind::kTcp;
    a.host = i.host;
    a.port = i.port;
    a.path = i.path;
    o.listen.push_back(a);
  }
  o.io_threads = config.server.io_threads;
  o.epoll_instances = config.server.epoll_instances;
  o.event_batch_size = config.server.event_batch_size;
  o.max_connections = config.server.max_connections;
  o.read_buffer_size = config.server.read_buffer_size;
  o.max_buffered_bytes = config.server.max_request_size_bytes + config.server.max_header_bytes +
                         config.server.read_buffer_size;
  o.idle_timeout_seconds = config.server.idle_timeout_seconds;
  o.shutdown_timeout_seconds = config.server.shutdown_timeout_seconds;
  o.refuse_message = weasel::HttpServer::refuse_message();
  return o;
}

// The retention policies and the truncation job over `log`, counting its work in `registry`;
// nullptr (logged) when the stored policies cannot be read.
std::unique_ptr<weasel::RetentionManager> open_retention(const weasel::Config& config,
                                                         weasel::LogStore& log,
                                                         weasel::MetricsRegistry& registry) {
  weasel::Counter& runs = registry.counter("weaseldb_log_truncations_total",
                                           "Completed log truncation passes of the retention job");
  weasel::Counter& deleted = registry.counter("weaseldb_log_truncated_bytes_total",
                                              "Bytes of log batches deleted by retention");
  weasel::RetentionOptions options;
  options.default_keep_seconds = config.retention.default_keep_seconds;
  options.truncate_interval_seconds = config.retention.truncate_interval_seconds;
  options.max_policies = config.retention.max_policies;
  options.on_truncated = [&runs, &deleted](uint64_t bytes) {
    runs.inc();
    deleted.inc(bytes);
  };
  auto opened = weasel::RetentionManager::open(log, std::move(options));
  if (!opened.ok()) {
    spdlog::error("cannot load the retention policies: {}", opened.status().to_string());
    return nullptr;
  }
  return std::move(opened).value();
}

int serve(const weasel::Config& config) {
  // Signals are taken synchronously by this thread (sigwait); every other thread inherits the
  // mask, so no handler runs in the middle of an I/O thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  spdlog::info("weaseldb {} starting: {}", weasel::weasel_version(), weasel::describe_config(config));
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    spdlog::error("cannot create data directory {}: {}", config.data_dir, ec.message());
    return 1;
  }

  auto registry = std::make_shared<weasel::MetricsRegistry>();
  weasel::LocalLogStoreOptions log_options;
  log_options.directory =
      config.log.path.empty() ? config.data_dir + "/log" : config.log.path;
  log_options.segment_bytes = config.log.segment_bytes;
  log_options.sync = config.log.sync;
  auto opened = weasel::LocalLogStore::open(log_options);
  if (!opened.ok()) {
    spdlog::error("cannot open the log in {}: {}", log_options.directory,
                  opened.status().to_string());
    return 3;
  }
  std::unique_ptr<weasel::LocalLogStore> log = std::move(opened).value();
  registry->gauge_callback("weaseldb_log_oldest_version",
                           "Oldest version the log can still serve history after", {},
                           [l = log.get()] { return static_cast<double>(l->oldest_version()); });
  registry->gauge_callback("weaseldb_log_bytes", "Bytes of retained log batches", {},
                           [l = log.get()] { return static_cast<double>(l->bytes()); });

  auto retention = open_retention(config, *log, *registry);
  if (!retention) return 3;

  const std::string leader_id = new_leader_id();
  // The hub follows the log from its current end, so it exists before the first commit.
  weasel::HubOptions hub_options;
  hub_options.leader_id = leader_id;
  hub_options.max_buffer_bytes = config.subscription.max_buffer_size_bytes;
  hub_options.keepalive_interval_seconds = config.subscription.keepalive_interval_seconds;
  hub_options.checkpoint_interval_ms = config.subscription.checkpoint_interval_ms;
  auto hub = std::make_unique<weasel::Hub>(hub_options, *log, *registry);

  weasel::CommitPipelineOptions pipeline_options;
  pipeline_options.capacity_log2 = std::countr_zero(config.commit.pipeline_capacity);
  pipeline_options.batch_bytes_max = config.log.batch_size_threshold;
  pipeline_options.conflict_window_seconds = config.commit.conflict_window_seconds;
  pipeline_options.request_ids.max_entries = config.commit.request_id_index_entries;
  pipeline_options.request_ids.max_versions = config.commit.request_id_retention_versions;
  pipeline_options.request_ids.max_age_ms =
      int64_t{config.commit.request_id_retention_hours} * 3'600'000;
  pipeline_options.leader_id = leader_id;
  pipeline_options.observer = hub.get();
  auto pipeline = std::make_unique<weasel::CommitPipeline>(pipeline_options, *log, *registry);

  weasel::ApiContext ctx;
  ctx.metrics = registry.get();
  ctx.metrics_enabled = config.metrics.enabled;
  ctx.leader_id = pipeline_options.leader_id;
  ctx.pipeline = pipeline.get();
  ctx.committed_version = [p = pipeline.get()] { return p->committed_version(); };
  ctx.healthy = [p = pipeline.get()] { return p->healthy(); };
  ctx.hub = hub.get();
  ctx.oldest_version = [l = log.get()] { return l->oldest_version(); };
  ctx.commit_limits.max_key_bytes = config.commit.max_key_bytes;
  ctx.commit_limits.max_value_bytes = config.commit.max_value_bytes;
  ctx.commit_limits.max_preconditions = config.commit.max_preconditions;
  ctx.commit_limits.max_operations = config.commit.max_operations;
  ctx.commit_limits.min_request_id_length = config.commit.min_request_id_length;
  ctx.retention = retention.get();
  auto api = std::make_shared<weasel::HttpApi>(ctx);

  weasel::HttpServerOptions http;
  http.limits.max_uri_bytes = config.server.max_uri_bytes;
  http.limits.max_header_bytes = config.server.max_header_bytes;
  http.limits.max_body_bytes = config.server.max_request_size_bytes;
  auto handler = std::make_shared<weasel::HttpServer>(http, api);

  std::shared_ptr<weasel::Server> server;
  try {
    server = weasel::Server::create(server_options(config), handler);
  } catch (const std::exception& e) {
    spdlog::error("cannot start: {}", e.what());
    return 1;
  }
  std::weak_ptr<weasel::Server> weak = server;
  registry->gauge_callback("weaseldb_connections", "Open client connections", {}, [weak] {
    auto s = weak.lock();
    return s ? static_cast<double>(s->connection_count()) : 0.0;
  });
  retention->start();
  server->start();
  for (const auto& addr : server->bound_addresses()) {
    spdlog::info("listening on {} (leader_id {})", addr, ctx.leader_id);
  }

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  // Order matters: subscription streams end first (they never finish by themselves and the
  // hub thread hands their connections back); the server drains its connections while the
  // pipeline still answers the commits in flight; then the pipeline stops (its release
  // thread is the last to hand connections back), and only then may the server go.
  hub->stop();
  server->stop();
  pipeline->stop();
  server.reset();
  retention->stop();  // before the log it truncates goes away
  spdlog::info("stopped at version {}", log->latest_version());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  weasel::CliResult cli;
  try {
    cli = weasel::parse_command_line(argc, argv);
  } catch (const weasel::ConfigError& e) {
    std::fprintf(stderr, "weaseldb: %s\n", e.what());
    return 2;
  }
  switch (cli.action) {
    case weasel::CliResult::Action::kHelp:
    case weasel::CliResult::Action::kVersion:
      std::fputs(cli.text.c_str(), stdout);
      return 0;
    case weasel::CliResult::Action::kServe:
      break;
  }
  return serve(cli.config);
}
