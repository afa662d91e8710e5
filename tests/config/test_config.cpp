// Tests for the TOML config loader and the command line (src/config).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "config/cli.hpp"
#include "config/config.hpp"

namespace weasel {
namespace {

using Kind = InterfaceConfig::Kind;

// Parses `text` expecting a ConfigError; returns it for inspection.
ConfigError parse_error(const std::string& text) {
  try {
    parse_config(text, "test.toml");
  } catch (const ConfigError& error) {
    return error;
  }
  FAIL("no ConfigError for: " << text);
  return ConfigError("", "unreachable");
}

// Checks that `text` is rejected for `key`, with a message naming key, file and line.
void check_rejected(const std::string& text, const std::string& key, int line,
                    const std::string& fragment) {
  ConfigError error = parse_error(text);
  std::string message = error.what();
  CAPTURE(text);
  CAPTURE(message);
  CHECK(error.key() == key);
  CHECK(message.find(key) != std::string::npos);
  CHECK(message.find("test.toml:" + std::to_string(line) + ":") == 0);
  CHECK(message.find(fragment) != std::string::npos);
}

// A file that exists for the lifetime of the object.
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    char name[] = "/tmp/weasel_test_config_XXXXXX";
    int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    close(fd);
    path_ = name;
    std::ofstream(path_) << contents;
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

CliResult run_cli(std::vector<std::string> args) {
  std::vector<const char*> argv{"weaseldb"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

ConfigError cli_error(std::vector<std::string> args) {
  try {
    run_cli(args);
  } catch (const ConfigError& error) {
    return error;
  }
  FAIL("no ConfigError for the command line");
  return ConfigError("", "unreachable");
}

InterfaceConfig tcp(std::string host, uint16_t port) {
  InterfaceConfig interface;
  interface.host = std::move(host);
  interface.port = port;
  return interface;
}

InterfaceConfig unix_socket(std::string path) {
  InterfaceConfig interface;
  interface.kind = Kind::kUnix;
  interface.path = std::move(path);
  return interface;
}

TEST_CASE("defaults: an empty file and the struct initializers agree") {
  Config config;
  CHECK(config.data_dir == "./data");
  REQUIRE(config.server.interfaces.size() == 1);
  CHECK(config.server.interfaces[0] == tcp("127.0.0.1", 8080));
  CHECK(config.server.io_threads == 1);
  CHECK(config.server.epoll_instances == 1);
  CHECK(config.server.event_batch_size == 32);
  CHECK(config.server.max_connections == 10000);
  CHECK(config.server.read_buffer_size == 16384);
  CHECK(config.server.max_request_size_bytes == 1024 * 1024);
  CHECK(config.server.max_header_bytes == 16384);
  CHECK(config.server.max_uri_bytes == 8192);
  CHECK(config.server.idle_timeout_seconds == 300);
  CHECK(config.server.shutdown_timeout_seconds == 10);
  CHECK(config.subscription.max_buffer_size_bytes == 10 * 1024 * 1024);
  CHECK(config.subscription.keepalive_interval_seconds == 30);
  CHECK(config.subscription.checkpoint_interval_ms == 1000);
  CHECK(config.retention.default_keep_seconds == 86400);
  CHECK(config.retention.truncate_interval_seconds == 60);
  CHECK(config.retention.max_policies == 1000);
  CHECK(config.metrics.enabled);
  CHECK(parse_config("", "empty.toml") == config);
  CHECK(parse_config("# only a comment\n[server]\n[metrics]\n", "x.toml") == config);
}

TEST_CASE("every key is parsed") {
  Config config = parse_config(R"(
data_dir = "/var/lib/weaseldb"
[server]
io_threads = 4
epoll_instances = 2
event_batch_size = 64
max_connections = 500
read_buffer_size = 65536
max_request_size_bytes = 2097152
max_header_bytes = 32768
max_uri_bytes = 4096
idle_timeout_seconds = 60
shutdown_timeout_seconds = 0
[[server.interfaces]]
type = "tcp"
host = "::1"
port = 9000
[[server.interfaces]]
type = "unix"
path = "/run/weaseldb.sock"
[[server.interfaces]]
type = "tcp"
[metrics]
enabled = false
)",
                               "full.toml");
  CHECK(config.data_dir == "/var/lib/weaseldb");
  const ServerConfig& server = config.server;
  REQUIRE(server.interfaces.size() == 3);
  CHECK(server.interfaces[0] == tcp("::1", 9000));
  CHECK(server.interfaces[1] == unix_socket("/run/weaseldb.sock"));
  CHECK(server.interfaces[2] == tcp("127.0.0.1", 8080));  // fields default inside a table
  CHECK(server.io_threads == 4);
  CHECK(server.epoll_instances == 2);
  CHECK(server.event_batch_size == 64);
  CHECK(server.max_connections == 500);
  CHECK(server.read_buffer_size == 65536);
  CHECK(server.max_request_size_bytes == 2097152);
  CHECK(server.max_header_bytes == 32768);
  CHECK(server.max_uri_bytes == 4096);
  CHECK(server.idle_timeout_seconds == 60);
  CHECK(server.shutdown_timeout_seconds == 0);
  CHECK_FALSE(config.metrics.enabled);
}

TEST_CASE("inline tables and dotted keys are plain TOML and work too") {
  Config config = parse_config(
      "server.io_threads = 2\n"
      "server.interfaces = [{type = \"tcp\", host = \"localhost\", port = 0}]\n",
      "inline.toml");
  CHECK(config.server.io_threads == 2);
  REQUIRE(config.server.interfaces.size() == 1);
  CHECK(config.server.interfaces[0] == tcp("localhost", 0));
}

TEST_CASE("unknown keys are rejected at every level") {
  check_rejected("data_dir = \"d\"\ndatadir = \"x\"\n", "datadir", 2,
                 "unknown key (allowed at the top level: data_dir, server, commit, log, subscription, "
                 "retention, metrics)");
  check_rejected("[commits]\nx = 1\n", "commits", 1, "unknown key");
  check_rejected("[server]\nio_threads = 1\nio_thread = 2\n", "server.io_thread", 3,
                 "unknown key (allowed in server: interfaces, io_threads");
  check_rejected("[metrics]\nenabled = true\nport = 9\n", "metrics.port", 3, "unknown key");
  check_rejected("[[server.interfaces]]\ntype = \"tcp\"\npath = \"/x\"\n",
                 "server.interfaces[0].path", 3,
                 "unknown key (allowed in server.interfaces[0]: type, host, port)");
  check_rejected(
      "[[server.interfaces]]\ntype = \"tcp\"\n[[server.interfaces]]\n"
      "type = \"unix\"\npath = \"/x\"\nport = 1\n",
      "server.interfaces[1].port", 6, "allowed in server.interfaces[1]: type, path");
  check_rejected("[server.tls]\nenabled = true\n", "server.tls", 1, "unknown key");
}

TEST_CASE("values of the wrong type are rejected") {
  check_rejected("[server]\nio_threads = \"4\"\n", "server.io_threads", 2,
                 "expected an integer, got a string");
  check_rejected("[server]\nmax_connections = 10.5\n", "server.max_connections", 2,
                 "expected an integer, got a float");
  check_rejected("[metrics]\nenabled = 1\n", "metrics.enabled", 2,
                 "expected a boolean, got an integer");
  check_rejected("data_dir = 5\n", "data_dir", 1, "expected a string, got an integer");
  check_rejected("server = 3\n", "server", 1, "expected a table, got an integer");
  check_rejected("metrics = [true]\n", "metrics", 1, "expected a table, got an array");
  check_rejected("[server.interfaces]\ntype = \"tcp\"\n", "server.interfaces", 1,
                 "expected an array of tables");
  check_rejected("[server]\ninterfaces = [1]\n", "server.interfaces[0]", 2,
                 "expected a table, got an integer");
  check_rejected("[[server.interfaces]]\ntype = \"tcp\"\nport = \"80\"\n",
                 "server.interfaces[0].port", 3, "expected an integer, got a string");
  check_rejected("[server]\nidle_timeout_seconds = 1979-05-27\n", "server.idle_timeout_seconds", 2,
                 "expected an integer, got a date/time");
}

TEST_CASE("out-of-range values are rejected with the allowed range") {
  check_rejected("[server]\nio_threads = 0\n", "server.io_threads", 2,
                 "0 is out of range (allowed 1..256)");
  check_rejected("[server]\nio_threads = 257\n", "server.io_threads", 2, "allowed 1..256");
  check_rejected("[server]\nio_threads = 2\nepoll_instances = 3\n", "server.epoll_instances", 3,
                 "3 is out of range (allowed 1..server.io_threads = 2");
  check_rejected("[server]\nepoll_instances = 2\n", "server.epoll_instances", 2,
                 "allowed 1..server.io_threads = 1");
  check_rejected("[server]\nevent_batch_size = 0\n", "server.event_batch_size", 2,
                 "allowed 1..4096");
  check_rejected("[server]\nmax_connections = -1\n", "server.max_connections", 2,
                 "-1 is out of range (allowed 1..1000000)");
  check_rejected("[server]\nread_buffer_size = 100\n", "server.read_buffer_size", 2,
                 "allowed 1024..16777216");
  check_rejected("[server]\nmax_request_size_bytes = 99999999999999999999999\n",
                 "server.max_request_size_bytes", 2, "allowed 1024..1073741824");
  check_rejected("[server]\nmax_header_bytes = 1048577\n", "server.max_header_bytes", 2,
                 "allowed 1024..1048576");
  check_rejected("[server]\nmax_uri_bytes = 255\n", "server.max_uri_bytes", 2,
                 "allowed 256..1048576");
  check_rejected("[server]\nidle_timeout_seconds = 0\n", "server.idle_timeout_seconds", 2,
                 "allowed 1..86400");
  check_rejected("[server]\nshutdown_timeout_seconds = 3601\n", "server.shutdown_timeout_seconds",
                 2, "allowed 0..3600");
  check_rejected("[[server.interfaces]]\ntype = \"tcp\"\nport = 65536\n",
                 "server.interfaces[0].port", 3, "allowed 0..65535");
  check_rejected("data_dir = \"\"\n", "data_dir", 1, "\"\" is empty");
}

TEST_CASE("interfaces are validated") {
  check_rejected("[server]\ninterfaces = []\n", "server.interfaces", 2,
                 "0 interfaces given (allowed 1..16)");
  std::string many;
  for (int i = 0; i < 17; ++i) {
    many += "[[server.interfaces]]\ntype = \"tcp\"\nport = " + std::to_string(9000 + i) + "\n";
  }
  check_rejected(many, "server.interfaces", 1, "17 interfaces given");
  check_rejected("[[server.interfaces]]\nhost = \"::1\"\n", "server.interfaces[0].type", 1,
                 "missing");
  check_rejected("[[server.interfaces]]\ntype = \"udp\"\n", "server.interfaces[0].type", 2,
                 "\"udp\" is not an interface type (allowed \"tcp\" or \"unix\")");
  check_rejected("[[server.interfaces]]\ntype = \"unix\"\n", "server.interfaces[0].path", 1,
                 "missing; a unix interface needs a path");
  check_rejected(
      "[[server.interfaces]]\ntype = \"unix\"\npath = \"" + std::string(108, 'p') + "\"\n",
      "server.interfaces[0].path", 3, "is longer than 107 bytes");
  check_rejected("[[server.interfaces]]\ntype = \"tcp\"\nhost = \"[::1]\"\n",
                 "server.interfaces[0].host", 3, "not a valid IPv6 address");
  check_rejected("[[server.interfaces]]\ntype = \"tcp\"\nhost = \"300.1.2.3\"\n",
                 "server.interfaces[0].host", 3, "not a valid IPv4 address");
  check_rejected("[[server.interfaces]]\ntype = \"tcp\"\nhost = \"a b\"\n",
                 "server.interfaces[0].host", 3, "neither an IP address nor a host name");
  check_rejected("[[server.interfaces]]\ntype = \"tcp\"\nhost = \"\"\n",
                 "server.interfaces[0].host", 3, "is empty");
  check_rejected("[[server.interfaces]]\ntype = \"tcp\"\n[[server.interfaces]]\ntype = \"tcp\"\n",
                 "server.interfaces[1]", 3, "127.0.0.1:8080 is already server.interfaces[0]");
}

TEST_CASE("a TOML syntax error names the file and line") {
  ConfigError error = parse_error("[server]\nio_threads = \n");
  std::string message = error.what();
  CAPTURE(message);
  CHECK(error.key().empty());
  CHECK(message.find("test.toml:2: TOML syntax error: ") == 0);
  CHECK(message.find("io_threads") != std::string::npos);  // toml11's excerpt of the line

  error = parse_error("[server]\nio_threads = 1\nio_threads = 2\n");
  message = error.what();
  CHECK(message.find("test.toml:3: TOML syntax error: ") == 0);
  CHECK(message.find("already exists") != std::string::npos);
}

TEST_CASE("load_config_file reads a file and reports I/O errors as ConfigError") {
  TempFile file("[server]\nio_threads = 3\n");
  CHECK(load_config_file(file.path()).server.io_threads == 3);

  TempFile bad("[server]\nio_threads = 0\n");
  try {
    load_config_file(bad.path());
    FAIL("accepted io_threads = 0");
  } catch (const ConfigError& error) {
    CHECK(std::string(error.what()).find(bad.path() + ":2: server.io_threads") == 0);
  }

  try {
    load_config_file("/nonexistent/weaseldb.toml");
    FAIL("loaded a missing file");
  } catch (const ConfigError& error) {
    CHECK(error.key().empty());
    CHECK(std::string(error.what()) == "/nonexistent/weaseldb.toml: cannot open config file");
  }
}

TEST_CASE("the example config file holds exactly the defaults") {
  CHECK(load_config_file(WEASEL_EXAMPLE_CONFIG) == Config{});
}

TEST_CASE("describe_config prints every effective value on one line") {
  Config config;
  config.server.interfaces = {tcp("::1", 9000), unix_socket("/run/w.sock")};
  CHECK(describe_config(config) ==
        "data_dir=\"./data\" server.interfaces=[[::1]:9000,unix:/run/w.sock] "
        "server.io_threads=1 server.epoll_instances=1 server.event_batch_size=32 "
        "server.max_connections=10000 server.read_buffer_size=16384 "
        "server.max_request_size_bytes=1048576 server.max_header_bytes=16384 "
        "server.max_uri_bytes=8192 server.idle_timeout_seconds=300 "
        "server.shutdown_timeout_seconds=10 commit.min_request_id_length=20 "
        "commit.max_key_bytes=10000 commit.max_value_bytes=100000 "
        "commit.max_preconditions=10000 commit.max_operations=10000 "
        "commit.conflict_window_seconds=5 commit.pipeline_capacity=16384 "
        "commit.request_id_index_entries=1000000 commit.request_id_retention_hours=24 "
        "commit.request_id_retention_versions=100000000 log.backend=\"local\" log.path=\"\" "
        "log.segment_bytes=67108864 log.batch_size_threshold=1048576 log.sync=true "
        "subscription.max_buffer_size_bytes=10485760 subscription.keepalive_interval_seconds=30 "
        "subscription.checkpoint_interval_ms=1000 retention.default_keep_seconds=86400 "
        "retention.truncate_interval_seconds=60 retention.max_policies=1000 "
        "metrics.enabled=true");
}

TEST_CASE("[commit] and [log] keys are read and checked") {
  Config config = parse_config(
      "[commit]\nmax_key_bytes = 64\npipeline_capacity = 1024\nconflict_window_seconds = 9\n"
      "[log]\npath = \"/tmp/l\"\nsync = false\nsegment_bytes = 1048576\n",
      "t.toml");
  CHECK(config.commit.max_key_bytes == 64);
  CHECK(config.commit.pipeline_capacity == 1024);
  CHECK(config.commit.conflict_window_seconds == 9);
  CHECK(config.log.path == "/tmp/l");
  CHECK_FALSE(config.log.sync);
  CHECK(config.log.segment_bytes == 1048576);
  auto key_of = [](const char* text) {
    try {
      parse_config(text, "t.toml");
    } catch (const ConfigError& e) {
      return e.key();
    }
    return std::string("(accepted)");
  };
  CHECK(key_of("[commit]\npipeline_capacity = 1000\n") == "commit.pipeline_capacity");
  CHECK(key_of("[commit]\nconflict_window_seconds = 0\n") == "commit.conflict_window_seconds");
  CHECK(key_of("[commit]\nbogus = 1\n") == "commit.bogus");
  CHECK(key_of("[log]\nbackend = \"s3\"\n") == "log.backend");
  CHECK(key_of("[log]\nbackend = \"tape\"\n") == "log.backend");
  CHECK(key_of("[log]\nsync = 1\n") == "log.sync");
  CHECK(key_of("[log]\nsegment_bytes = 5\n") == "log.segment_bytes");
}

TEST_CASE("--listen accepts HOST:PORT, [V6]:PORT and unix:PATH") {
  CHECK(parse_listen_address("127.0.0.1:8080") == tcp("127.0.0.1", 8080));
  CHECK(parse_listen_address("0.0.0.0:0") == tcp("0.0.0.0", 0));
  CHECK(parse_listen_address("localhost:65535") == tcp("localhost", 65535));
  CHECK(parse_listen_address("[::1]:9000") == tcp("::1", 9000));
  CHECK(parse_listen_address("[::]:80") == tcp("::", 80));
  CHECK(parse_listen_address("[fe80::1:2]:80") == tcp("fe80::1:2", 80));
  CHECK(parse_listen_address("unix:/tmp/w.sock") == unix_socket("/tmp/w.sock"));
  CHECK(parse_listen_address("unix:rel.sock") == unix_socket("rel.sock"));
  for (const char* text : {"127.0.0.1:8080", "[::1]:9000", "unix:/tmp/w.sock"}) {
    CHECK(format_interface(parse_listen_address(text)) == text);
  }
}

TEST_CASE("--listen rejects malformed addresses, naming them") {
  const char* bad[] = {
      "8080",    ":8080", "::1:8080",   "[::1",     "[::1]",           "[zz]:80",
      "[]:80",   "host:", "host:99999", "host:80a", "host:-1",         "300.1.2.3:80",
      "a..b:80", "-a:80", "unix:",      "h o:80",   "127.0.0.1:8080:1"};
  for (const char* text : bad) {
    CAPTURE(text);
    try {
      parse_listen_address(text);
      FAIL("accepted");
    } catch (const ConfigError& error) {
      CHECK(error.key() == "server.interfaces");
      CHECK(std::string(error.what()).find("--listen '" + std::string(text) + "'") == 0);
    }
  }
  std::string long_path = "unix:/" + std::string(107, 'x');
  CHECK_THROWS_AS(parse_listen_address(long_path), ConfigError);
}

TEST_CASE("command line: no arguments serves the defaults") {
  CliResult result = run_cli({});
  CHECK(result.action == CliResult::Action::kServe);
  CHECK(result.config == Config{});
  CHECK(result.text.empty());
}

TEST_CASE("command line: --help and --version") {
  for (const char* flag : {"--help", "-h"}) {
    CliResult result = run_cli({"--data", "x", flag});
    CHECK(result.action == CliResult::Action::kHelp);
    CHECK(result.text == usage_text());
  }
  CHECK(usage_text().find("--listen ADDRESS") != std::string::npos);
  CliResult result = run_cli({"--version"});
  CHECK(result.action == CliResult::Action::kVersion);
  CHECK(result.text == "weaseldb " WEASEL_EXPECTED_VERSION "\n");
  CHECK(weasel_version() == WEASEL_EXPECTED_VERSION);
}

TEST_CASE("command line: flags override the config file, in any order") {
  TempFile file(
      "data_dir = \"/from/file\"\n[server]\nio_threads = 2\n"
      "[[server.interfaces]]\ntype = \"tcp\"\nport = 7000\n");
  CliResult from_file = run_cli({"--config", file.path()});
  CHECK(from_file.config.data_dir == "/from/file");
  CHECK(from_file.config.server.io_threads == 2);
  CHECK(from_file.config.server.interfaces == std::vector{tcp("127.0.0.1", 7000)});

  CliResult result = run_cli({"--listen", "[::1]:9000", "--data=/from/flag",
                              "--listen=unix:/tmp/w.sock", "--config=" + file.path()});
  CHECK(result.action == CliResult::Action::kServe);
  CHECK(result.config.data_dir == "/from/flag");
  CHECK(result.config.server.io_threads == 2);  // untouched by flags
  CHECK(result.config.server.interfaces ==
        std::vector{tcp("::1", 9000), unix_socket("/tmp/w.sock")});

  // Without a file, flags override the defaults.
  result = run_cli({"--listen", "0.0.0.0:80"});
  CHECK(result.config.server.interfaces == std::vector{tcp("0.0.0.0", 80)});
  CHECK(result.config.data_dir == "./data");
}

TEST_CASE("command line: errors") {
  auto check = [](std::vector<std::string> args, const std::string& key,
                  const std::string& fragment) {
    ConfigError error = cli_error(args);
    CAPTURE(error.what());
    CHECK(error.key() == key);
    CHECK(std::string(error.what()).find(fragment) != std::string::npos);
  };
  check({"--bogus"}, "", "unknown option '--bogus' (see weaseldb --help)");
  check({"--configx=a"}, "", "unknown option '--configx=a'");
  check({"serve"}, "", "unexpected argument 'serve'");
  check({"--config"}, "", "option --config needs a value");
  check({"--data", "a", "--data", "b"}, "", "option --data given twice");
  check({"--data="}, "data_dir", "--data '' is empty");
  check({"--listen", "nope"}, "server.interfaces", "--listen 'nope': missing ':PORT'");
  check({"--listen", "[::1]:1", "--listen", "[::1]:1"}, "server.interfaces", "given twice");
  check({"replica", "--upstream", "http://x"}, "", "replica mode is not implemented yet");
  check({"--config", "/nonexistent.toml"}, "", "/nonexistent.toml: cannot open config file");

  TempFile bad("[server]\nio_threads = \"many\"\n");
  check({"--config", bad.path(), "--listen", "[::1]:1"}, "server.io_threads",
        "expected an integer, got a string");

  std::vector<std::string> many;
  for (int i = 0; i < 17; ++i) many.push_back("--listen=[::1]:" + std::to_string(1000 + i));
  check(many, "server.interfaces", "more than 16 --listen addresses");
}


TEST_CASE("[subscription] and [retention] keys are read and checked") {
  Config config = parse_config(
      "[subscription]\nmax_buffer_size_bytes = 65536\nkeepalive_interval_seconds = 5\n"
      "checkpoint_interval_ms = 250\n"
      "[retention]\ndefault_keep_seconds = 0\ntruncate_interval_seconds = 1\nmax_policies = 3\n",
      "t.toml");
  CHECK(config.subscription.max_buffer_size_bytes == 65536);
  CHECK(config.subscription.keepalive_interval_seconds == 5);
  CHECK(config.subscription.checkpoint_interval_ms == 250);
  CHECK(config.retention.default_keep_seconds == 0);
  CHECK(config.retention.truncate_interval_seconds == 1);
  CHECK(config.retention.max_policies == 3);

  check_rejected("[subscription]\nmax_buffer_size_bytes = 65535\n",
                 "subscription.max_buffer_size_bytes", 2, "allowed 65536..1073741824");
  check_rejected("[subscription]\nkeepalive_interval_seconds = 0\n",
                 "subscription.keepalive_interval_seconds", 2, "allowed 1..3600");
  check_rejected("[subscription]\ncheckpoint_interval_ms = 60001\n",
                 "subscription.checkpoint_interval_ms", 2, "allowed 10..60000");
  check_rejected("[subscription]\nbuffer = 1\n", "subscription.buffer", 2,
                 "unknown key (allowed in subscription: max_buffer_size_bytes, "
                 "keepalive_interval_seconds, checkpoint_interval_ms)");
  check_rejected("[retention]\ndefault_keep_seconds = -1\n", "retention.default_keep_seconds", 2,
                 "-1 is out of range (allowed 0..3162240000)");
  check_rejected("[retention]\ntruncate_interval_seconds = 0\n",
                 "retention.truncate_interval_seconds", 2, "allowed 1..86400");
  check_rejected("[retention]\nmax_policies = 10001\n", "retention.max_policies", 2,
                 "allowed 1..10000");
  check_rejected("[retention]\ndefault_keep_seconds = \"1d\"\n", "retention.default_keep_seconds",
                 2, "expected an integer, got a string");
  check_rejected("[retention]\nkeep = 1\n", "retention.keep", 2,
                 "unknown key (allowed in retention: default_keep_seconds, "
                 "truncate_interval_seconds, max_policies)");
}

}  // namespace
}  // namespace weasel
