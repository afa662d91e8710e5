#include "config/config.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <toml.hpp>
#include <utility>

#include "core/assert.hpp"

namespace weasel {
namespace {

// std::map keeps keys sorted, so "the first unknown key" is deterministic.
using TomlValue = toml::basic_value<toml::discard_comments, std::map, std::vector>;

// Allowed ranges. The defaults live in config.hpp; docs/config.md lists both.
constexpr int64_t kIoThreadsMax = 256;
constexpr int64_t kEventBatchSizeMax = 4096;
constexpr int64_t kMaxConnectionsMax = 1'000'000;
constexpr int64_t kReadBufferSizeMin = 1024;
constexpr int64_t kReadBufferSizeMax = 16 * 1024 * 1024;
constexpr int64_t kMaxRequestSizeBytesMin = 1024;
constexpr int64_t kMaxRequestSizeBytesMax = 1024 * 1024 * 1024;
constexpr int64_t kMaxHeaderBytesMin = 1024;
constexpr int64_t kMaxHeaderBytesMax = 1024 * 1024;
constexpr int64_t kMaxUriBytesMin = 256;
constexpr int64_t kMaxUriBytesMax = 1024 * 1024;
constexpr int64_t kIdleTimeoutSecondsMax = 24 * 3600;
constexpr int64_t kShutdownTimeoutSecondsMax = 3600;
constexpr size_t kDataDirBytesMax = 4095;  // PATH_MAX - 1
constexpr int64_t kMaxBufferSizeBytesMin = 64 * 1024;
constexpr int64_t kMaxBufferSizeBytesMax = int64_t{1} << 30;
constexpr int64_t kKeepaliveIntervalSecondsMax = 3600;
constexpr int64_t kCheckpointIntervalMsMin = 10;
constexpr int64_t kCheckpointIntervalMsMax = 60'000;
constexpr int64_t kDefaultKeepSecondsMax = int64_t{100} * 366 * 86400;  // a century
constexpr int64_t kTruncateIntervalSecondsMax = 86400;
constexpr int64_t kMaxPoliciesMax = 10'000;

std::string_view type_name(toml::value_t type) {
  switch (type) {
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a float";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::offset_datetime:
    case toml::value_t::local_datetime:
    case toml::value_t::local_date:
    case toml::value_t::local_time:
      return "a date/time";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    case toml::value_t::empty:
      break;
  }
  return "nothing";
}

[[noreturn]] void fail_at(std::string_view source, const TomlValue& at, const std::string& key,
                          std::string_view problem) {
  std::string message(source);
  message += ':' + std::to_string(at.location().line()) + ": " + key + ": ";
  message += problem;
  throw ConfigError(key, message);
}

std::string range_text(int64_t min, int64_t max) {
  return "allowed " + std::to_string(min) + ".." + std::to_string(max);
}

// Reads the known keys of one TOML table and remembers which keys it asked for, so that
// reject_unknown_keys() can name any other key, and list the allowed ones.
class TableReader {
 public:
  TableReader(const TomlValue& table, std::string prefix, std::string_view source)
      : table_(table), prefix_(std::move(prefix)), source_(source) {
    WEASEL_ASSERT(table_.is_table());
  }

  std::string key(std::string_view name) const {
    return prefix_.empty() ? std::string(name) : prefix_ + "." + std::string(name);
  }

  [[noreturn]] void fail(std::string_view name, const TomlValue& at,
                         std::string_view problem) const {
    fail_at(source_, at, key(name), problem);
  }

  // The value of `name`, or nullptr when absent. Marks `name` as a known key.
  const TomlValue* find(std::string_view name) {
    known_.push_back(name);
    const auto& table = table_.as_table();
    auto it = table.find(std::string(name));
    return it == table.end() ? nullptr : &it->second;
  }

  const TomlValue* find(std::string_view name, toml::value_t type) {
    const TomlValue* value = find(name);
    if (value != nullptr && value->type() != type) {
      fail(name, *value,
           "expected " + std::string(type_name(type)) + ", got " +
               std::string(type_name(value->type())));
    }
    return value;
  }

  // Returns the value read, or nullptr when absent (then `out` keeps its default).
  template <typename T>
  const TomlValue* read_integer(std::string_view name, int64_t min, int64_t max, T& out) {
    WEASEL_ASSERT(min <= max);
    WEASEL_ASSERT(std::cmp_greater_equal(min, std::numeric_limits<T>::min()));
    WEASEL_ASSERT(std::cmp_less_equal(max, std::numeric_limits<T>::max()));
    const TomlValue* value = find(name, toml::value_t::integer);
    if (value == nullptr) return nullptr;
    int64_t number = value->as_integer();
    if (number < min || number > max) {
      // toml11 3.7 saturates integers that overflow 64 bits, so name the problem plainly.
      fail(name, *value,
           std::to_string(number) + " is out of range (" + range_text(min, max) + ")");
    }
    out = static_cast<T>(number);
    return value;
  }

  void read_bool(std::string_view name, bool& out) {
    const TomlValue* value = find(name, toml::value_t::boolean);
    if (value != nullptr) out = value->as_boolean();
  }

  // `check` returns an empty string for an acceptable value, else the problem.
  void read_string(std::string_view name, std::string& out,
                   std::string (*check)(std::string_view)) {
    const TomlValue* value = find(name, toml::value_t::string);
    if (value == nullptr) return;
    const std::string& text = value->as_string().str;
    std::string problem = check(text);
    if (!problem.empty()) fail(name, *value, "\"" + text + "\" " + problem);
    out = text;
  }

  void reject_unknown_keys() const {
    for (const auto& [name, value] : table_.as_table()) {
      if (std::find(known_.begin(), known_.end(), name) != known_.end()) continue;
      std::string allowed;
      for (std::string_view known : known_) {
        allowed += allowed.empty() ? "" : ", ";
        allowed += known;
      }
      std::string where = prefix_.empty() ? "at the top level" : "in " + prefix_;
      fail_at(source_, value, key(name), "unknown key (allowed " + where + ": " + allowed + ")");
    }
  }

 private:
  const TomlValue& table_;
  std::string prefix_;
  std::string_view source_;
  std::vector<std::string_view> known_;
};

std::string check_interface_type(std::string_view type) {
  if (type == "tcp" || type == "unix") return {};
  return "is not an interface type (allowed \"tcp\" or \"unix\")";
}

InterfaceConfig read_interface(const TomlValue& table, std::string prefix,
                               std::string_view source) {
  TableReader reader(table, std::move(prefix), source);
  std::string type;
  reader.read_string("type", type, check_interface_type);
  if (type.empty()) {
    fail_at(source, table, reader.key("type"),
            "missing; every interface needs type = \"tcp\" or type = \"unix\"");
  }
  InterfaceConfig interface;
  if (type == "tcp") {
    reader.read_string("host", interface.host, check_interface_host);
    reader.read_integer("port", 0, 65535, interface.port);
  } else {
    interface.kind = InterfaceConfig::Kind::kUnix;
    reader.read_string("path", interface.path, check_unix_path);
    if (interface.path.empty()) {
      fail_at(source, table, reader.key("path"), "missing; a unix interface needs a path");
    }
  }
  reader.reject_unknown_keys();
  return interface;
}

void read_interfaces(TableReader& server, std::string_view source,
                     std::vector<InterfaceConfig>& out) {
  const TomlValue* list = server.find("interfaces");
  if (list == nullptr) return;
  if (!list->is_array()) {
    server.fail("interfaces", *list,
                "expected an array of tables ([[server.interfaces]]), got " +
                    std::string(type_name(list->type())));
  }
  const auto& items = list->as_array();
  if (items.empty() || items.size() > kInterfacesMax) {
    server.fail(
        "interfaces", *list,
        std::to_string(items.size()) + " interfaces given (" + range_text(1, kInterfacesMax) + ")");
  }
  out.clear();
  for (size_t i = 0; i < items.size(); ++i) {
    std::string prefix = server.key("interfaces") + "[" + std::to_string(i) + "]";
    if (!items[i].is_table()) {
      fail_at(source, items[i], prefix,
              "expected a table, got " + std::string(type_name(items[i].type())));
    }
    InterfaceConfig interface = read_interface(items[i], prefix, source);
    for (size_t j = 0; j < out.size(); ++j) {
      if (out[j] == interface) {
        fail_at(source, items[i], prefix,
                format_interface(interface) + " is already server.interfaces[" + std::to_string(j) +
                    "]");
      }
    }
    out.push_back(std::move(interface));
  }
}

void read_server(const TomlValue& table, std::string_view source, ServerConfig& out) {
  TableReader reader(table, "server", source);
  read_interfaces(reader, source, out.interfaces);
  reader.read_integer("io_threads", 1, kIoThreadsMax, out.io_threads);
  const TomlValue* epoll_instances =
      reader.read_integer("epoll_instances", 1, kIoThreadsMax, out.epoll_instances);
  if (out.epoll_instances > out.io_threads) {
    WEASEL_ASSERT(epoll_instances != nullptr);  // the default, 1, fits any io_threads
    fail_at(source, *epoll_instances, reader.key("epoll_instances"),
            std::to_string(out.epoll_instances) +
                " is out of range (allowed 1..server.io_threads = " +
                std::to_string(out.io_threads) + ": every epoll set needs a thread)");
  }
  reader.read_integer("event_batch_size", 1, kEventBatchSizeMax, out.event_batch_size);
  reader.read_integer("max_connections", 1, kMaxConnectionsMax, out.max_connections);
  reader.read_integer("read_buffer_size", kReadBufferSizeMin, kReadBufferSizeMax,
                      out.read_buffer_size);
  reader.read_integer("max_request_size_bytes", kMaxRequestSizeBytesMin, kMaxRequestSizeBytesMax,
                      out.max_request_size_bytes);
  reader.read_integer("max_header_bytes", kMaxHeaderBytesMin, kMaxHeaderBytesMax,
                      out.max_header_bytes);
  reader.read_integer("max_uri_bytes", kMaxUriBytesMin, kMaxUriBytesMax, out.max_uri_bytes);
  reader.read_integer("idle_timeout_seconds", 1, kIdleTimeoutSecondsMax, out.idle_timeout_seconds);
  reader.read_integer("shutdown_timeout_seconds", 0, kShutdownTimeoutSecondsMax,
                      out.shutdown_timeout_seconds);
  reader.reject_unknown_keys();
}

std::string check_log_backend(std::string_view backend) {
  if (backend == "local") return {};
  if (backend == "s3") return "is not available yet (only \"local\" in this version)";
  return "is not a log backend (allowed \"local\")";
}

std::string check_log_path(std::string_view path) {
  if (path.empty()) return {};
  return check_data_dir(path);
}

void read_commit(const TomlValue& table, std::string_view source, CommitConfig& out) {
  TableReader reader(table, "commit", source);
  reader.read_integer("min_request_id_length", 1, 128, out.min_request_id_length);
  reader.read_integer("max_key_bytes", 1, 1 << 20, out.max_key_bytes);
  reader.read_integer("max_value_bytes", 1, 64 << 20, out.max_value_bytes);
  reader.read_integer("max_preconditions", 1, 1'000'000, out.max_preconditions);
  reader.read_integer("max_operations", 1, 1'000'000, out.max_operations);
  reader.read_integer("conflict_window_seconds", 1, 3600, out.conflict_window_seconds);
  const TomlValue* capacity =
      reader.read_integer("pipeline_capacity", 16, 1 << 20, out.pipeline_capacity);
  if ((out.pipeline_capacity & (out.pipeline_capacity - 1)) != 0) {
    WEASEL_ASSERT(capacity != nullptr);
    fail_at(source, *capacity, reader.key("pipeline_capacity"),
            std::to_string(out.pipeline_capacity) + " is not a power of two");
  }
  reader.read_integer("request_id_index_entries", 1, 100'000'000, out.request_id_index_entries);
  reader.read_integer("request_id_retention_hours", 1, 8760, out.request_id_retention_hours);
  reader.read_integer("request_id_retention_versions", 1, uint64_t{1} << 53,
                      out.request_id_retention_versions);
  reader.reject_unknown_keys();
}

void read_log(const TomlValue& table, std::string_view source, LogConfig& out) {
  TableReader reader(table, "log", source);
  reader.read_string("backend", out.backend, check_log_backend);
  reader.read_string("path", out.path, check_log_path);
  reader.read_integer("segment_bytes", int64_t{1} << 20, int64_t{4} << 30, out.segment_bytes);
  reader.read_integer("batch_size_threshold", 4096, 256 << 20, out.batch_size_threshold);
  reader.read_bool("sync", out.sync);
  reader.reject_unknown_keys();
}

void read_subscription(const TomlValue& table, std::string_view source,
                       SubscriptionConfig& out) {
  TableReader reader(table, "subscription", source);
  reader.read_integer("max_buffer_size_bytes", kMaxBufferSizeBytesMin, kMaxBufferSizeBytesMax,
                      out.max_buffer_size_bytes);
  reader.read_integer("keepalive_interval_seconds", 1, kKeepaliveIntervalSecondsMax,
                      out.keepalive_interval_seconds);
  reader.read_integer("checkpoint_interval_ms", kCheckpointIntervalMsMin, kCheckpointIntervalMsMax,
                      out.checkpoint_interval_ms);
  reader.reject_unknown_keys();
}

void read_retention(const TomlValue& table, std::string_view source, RetentionConfig& out) {
  TableReader reader(table, "retention", source);
  reader.read_integer("default_keep_seconds", 0, kDefaultKeepSecondsMax, out.default_keep_seconds);
  reader.read_integer("truncate_interval_seconds", 1, kTruncateIntervalSecondsMax,
                      out.truncate_interval_seconds);
  reader.read_integer("max_policies", 1, kMaxPoliciesMax, out.max_policies);
  reader.reject_unknown_keys();
}

void read_metrics(const TomlValue& table, std::string_view source, MetricsConfig& out) {
  TableReader reader(table, "metrics", source);
  reader.read_bool("enabled", out.enabled);
  reader.reject_unknown_keys();
}

// toml11 messages read "[error] toml::parse_xxx: what\n --> file\n | excerpt...": keep the
// "what" for the first line and the excerpt (it points at the column) below it.
std::string describe_syntax_error(std::string_view source, const toml::exception& error) {
  std::string text = error.what();
  size_t first_line_end = text.find('\n');
  std::string first = text.substr(0, first_line_end);
  std::string rest = first_line_end == std::string::npos ? "" : text.substr(first_line_end);
  if (first.starts_with("[error] ")) first.erase(0, 8);
  if (first.starts_with("toml::")) {
    size_t colon = first.find(": ");
    if (colon != std::string::npos) first.erase(0, colon + 2);
  }
  return std::string(source) + ":" + std::to_string(error.location().line()) +
         ": TOML syntax error: " + first + rest;
}

TomlValue parse_toml(std::string_view text, std::string_view source) {
  std::istringstream stream{std::string(text)};
  try {
    return toml::parse<toml::discard_comments, std::map, std::vector>(stream, std::string(source));
  } catch (const toml::exception& error) {
    throw ConfigError("", describe_syntax_error(source, error));
  } catch (const std::exception& error) {
    // Defensive: toml11 uses std::stoul and friends internally.
    throw ConfigError("", std::string(source) + ": TOML syntax error: " + error.what());
  }
}

void append_quoted(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

template <typename T>
void append_value(std::string& out, std::string_view key, T value) {
  out += ' ';
  out += key;
  out += '=';
  if constexpr (std::is_same_v<T, bool>) {
    out += value ? "true" : "false";
  } else {
    out += std::to_string(value);
  }
}

}  // namespace

std::string check_data_dir(std::string_view path) {
  if (path.empty()) return "is empty";
  if (path.find('\0') != std::string_view::npos) return "contains a NUL byte";
  if (path.size() > kDataDirBytesMax) {
    return "is longer than " + std::to_string(kDataDirBytesMax) + " bytes";
  }
  return {};
}

Config parse_config(std::string_view toml_text, std::string_view source_name) {
  TomlValue root = parse_toml(toml_text, source_name);
  Config config;
  TableReader top(root, "", source_name);
  top.read_string("data_dir", config.data_dir, check_data_dir);
  if (const TomlValue* server = top.find("server", toml::value_t::table)) {
    read_server(*server, source_name, config.server);
  }
  if (const TomlValue* commit = top.find("commit", toml::value_t::table)) {
    read_commit(*commit, source_name, config.commit);
  }
  if (const TomlValue* log = top.find("log", toml::value_t::table)) {
    read_log(*log, source_name, config.log);
  }
  if (const TomlValue* subscription = top.find("subscription", toml::value_t::table)) {
    read_subscription(*subscription, source_name, config.subscription);
  }
  if (const TomlValue* retention = top.find("retention", toml::value_t::table)) {
    read_retention(*retention, source_name, config.retention);
  }
  if (const TomlValue* metrics = top.find("metrics", toml::value_t::table)) {
    read_metrics(*metrics, source_name, config.metrics);
  }
  top.reject_unknown_keys();
  return config;
}

Config load_config_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw ConfigError("", path + ": cannot open config file");
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) throw ConfigError("", path + ": cannot read config file");
  return parse_config(text.str(), path);
}

std::string describe_config(const Config& config) {
  std::string out = "data_dir=";
  append_quoted(out, config.data_dir);
  const ServerConfig& server = config.server;
  out += " server.interfaces=[";
  for (size_t i = 0; i < server.interfaces.size(); ++i) {
    if (i > 0) out += ',';
    out += format_interface(server.interfaces[i]);
  }
  out += ']';
  append_value(out, "server.io_threads", server.io_threads);
  append_value(out, "server.epoll_instances", server.epoll_instances);
  append_value(out, "server.event_batch_size", server.event_batch_size);
  append_value(out, "server.max_connections", server.max_connections);
  append_value(out, "server.read_buffer_size", server.read_buffer_size);
  append_value(out, "server.max_request_size_bytes", server.max_request_size_bytes);
  append_value(out, "server.max_header_bytes", server.max_header_bytes);
  append_value(out, "server.max_uri_bytes", server.max_uri_bytes);
  append_value(out, "server.idle_timeout_seconds", server.idle_timeout_seconds);
  append_value(out, "server.shutdown_timeout_seconds", server.shutdown_timeout_seconds);
  const CommitConfig& commit = config.commit;
  append_value(out, "commit.min_request_id_length", commit.min_request_id_length);
  append_value(out, "commit.max_key_bytes", commit.max_key_bytes);
  append_value(out, "commit.max_value_bytes", commit.max_value_bytes);
  append_value(out, "commit.max_preconditions", commit.max_preconditions);
  append_value(out, "commit.max_operations", commit.max_operations);
  append_value(out, "commit.conflict_window_seconds", commit.conflict_window_seconds);
  append_value(out, "commit.pipeline_capacity", commit.pipeline_capacity);
  append_value(out, "commit.request_id_index_entries", commit.request_id_index_entries);
  append_value(out, "commit.request_id_retention_hours", commit.request_id_retention_hours);
  append_value(out, "commit.request_id_retention_versions", commit.request_id_retention_versions);
  out += " log.backend=";
  append_quoted(out, config.log.backend);
  out += " log.path=";
  append_quoted(out, config.log.path);
  append_value(out, "log.segment_bytes", config.log.segment_bytes);
  append_value(out, "log.batch_size_threshold", config.log.batch_size_threshold);
  append_value(out, "log.sync", config.log.sync);
  const SubscriptionConfig& subscription = config.subscription;
  append_value(out, "subscription.max_buffer_size_bytes", subscription.max_buffer_size_bytes);
  append_value(out, "subscription.keepalive_interval_seconds",
               subscription.keepalive_interval_seconds);
  append_value(out, "subscription.checkpoint_interval_ms", subscription.checkpoint_interval_ms);
  const RetentionConfig& retention = config.retention;
  append_value(out, "retention.default_keep_seconds", retention.default_keep_seconds);
  append_value(out, "retention.truncate_interval_seconds", retention.truncate_interval_seconds);
  append_value(out, "retention.max_policies", retention.max_policies);
  append_value(out, "metrics.enabled", config.metrics.enabled);
  return out;
}

}  // namespace weasel
