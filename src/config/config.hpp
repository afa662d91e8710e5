#pragma once
// The WeaselDB configuration: plain structs whose member initializers are THE defaults
// (the only place a default is written; docs/config.md and config/weaseldb.example.toml
// mirror them and a test keeps the example file honest), and the TOML loader that fills
// them from a file.
//
// The loader is strict, because a typo in a config file should stop start-up rather than
// be silently ignored: an unknown key (at any level, including unknown sections and unknown
// fields of an interface), a value of the wrong type, an out-of-range value or a TOML syntax
// error is a ConfigError naming the key (see config_error.hpp). Keys that are absent keep
// their default. The allowed ranges are listed in docs/config.md.
//
// Config objects are plain values: copy them freely; nothing here is shared or global.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.hpp"
#include "config/interface.hpp"

namespace weasel {

struct ServerConfig {
  // Where the server listens. A [[server.interfaces]] table in the file, or --listen on the
  // command line, replaces this list as a whole.
  std::vector<InterfaceConfig> interfaces = {InterfaceConfig{}};
  // One I/O thread is the default because it is not the bottleneck: commits are ordered by
  // the single-threaded pipeline stages behind it, and a second epoll thread mostly adds
  // cross-core traffic on a small machine. Raise it when HTTP parsing or many idle
  // keep-alive connections dominate.
  int io_threads = 1;
  // Number of epoll sets the I/O threads share; 1..io_threads.
  int epoll_instances = 1;
  // Events taken from epoll per wait call.
  int event_batch_size = 32;
  int max_connections = 10000;
  // Bytes read from a socket per read call (per-connection buffer).
  size_t read_buffer_size = 16384;
  // Largest accepted request body; larger is 413 content_too_large.
  size_t max_request_size_bytes = 1024 * 1024;
  // Largest accepted request head (request line + headers); larger is 431.
  size_t max_header_bytes = 16384;
  // Longest accepted request target; longer is 414 uri_too_long.
  size_t max_uri_bytes = 8192;
  // A connection with no request in progress for this long is closed.
  int idle_timeout_seconds = 300;
  // On SIGTERM/SIGINT, how long in-flight requests get to finish before the remaining
  // connections are closed. Needed because a subscription stream never finishes by itself.
  int shutdown_timeout_seconds = 10;

  bool operator==(const ServerConfig&) const = default;
};

struct CommitConfig {
  // Shortest accepted request_id (SPEC: 20..128 characters).
  size_t min_request_id_length = 20;
  size_t max_key_bytes = 10000;
  size_t max_value_bytes = 100000;
  size_t max_preconditions = 10000;
  size_t max_operations = 10000;
  // How much history the conflict set keeps: a precondition older than this is too_old.
  int conflict_window_seconds = 5;
  // Commits in flight in the pipeline (a power of two); when full, commits get 503.
  size_t pipeline_capacity = 16384;
  // Request ids remembered in memory (for duplicates and /v1/status); older ones are looked
  // up in the log, as far back as retention keeps it.
  size_t request_id_index_entries = 1'000'000;
  // ... and for at most this long and this many versions (whichever limit comes first).
  int request_id_retention_hours = 24;
  uint64_t request_id_retention_versions = 100'000'000;

  bool operator==(const CommitConfig&) const = default;
};

struct LogConfig {
  // "local" only for now ("s3" is a later milestone).
  std::string backend = "local";
  // Directory of the local log; empty means <data_dir>/log.
  std::string path;
  uint64_t segment_bytes = 64ull << 20;
  // A log batch (one write + one fdatasync) holds at most this many bytes of transactions.
  size_t batch_size_threshold = 1 << 20;
  // fdatasync every batch before acknowledging. false is for benchmarks only: commits are
  // then acknowledged before they are durable.
  bool sync = true;

  bool operator==(const LogConfig&) const = default;
};

struct SubscriptionConfig {
  // Bytes a subscriber may leave unread before it is dropped as slow_consumer (SPEC 3).
  size_t max_buffer_size_bytes = size_t{10} << 20;
  // A ": keepalive" comment goes out this often on an otherwise silent stream.
  int keepalive_interval_seconds = 30;
  // An idle stream gets a checkpoint event at least this often.
  int checkpoint_interval_ms = 1000;

  bool operator==(const SubscriptionConfig&) const = default;
};

struct RetentionConfig {
  // The history kept while no retention policy exists at all (SPEC 3: 24 h).
  int64_t default_keep_seconds = 86400;
  // How often the truncation job runs; it also runs promptly after a policy is deleted or
  // changed. A minute keeps the log close to its floor without re-reading the policies often.
  int truncate_interval_seconds = 60;
  // Most policies at once; PUT of a new one beyond it is a 400. Bounds the metadata file,
  // which is rewritten on every change.
  size_t max_policies = 1000;

  bool operator==(const RetentionConfig&) const = default;
};

struct MetricsConfig {
  // Serve GET /metrics.
  bool enabled = true;

  bool operator==(const MetricsConfig&) const = default;
};

struct Config {
  std::string data_dir = "./data";
  ServerConfig server;
  CommitConfig commit;
  LogConfig log;
  SubscriptionConfig subscription;
  RetentionConfig retention;
  MetricsConfig metrics;

  bool operator==(const Config&) const = default;
};

// Parses TOML text. `source_name` names the input in error messages (usually the file
// path). Throws ConfigError.
Config parse_config(std::string_view toml_text, std::string_view source_name);

// Reads and parses a file. An unreadable file is a ConfigError too.
Config load_config_file(const std::string& path);

// One line with every effective value, for the start-up log, e.g.
// data_dir="./data" server.interfaces=[127.0.0.1:8080] server.io_threads=1 ... metrics.enabled=true
std::string describe_config(const Config& config);

// Empty when `path` is acceptable as data_dir, else the problem ("is empty", ...).
std::string check_data_dir(std::string_view path);

}  // namespace weasel
