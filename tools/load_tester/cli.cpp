#include "load_tester/cli.hpp"

#include <charconv>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>

namespace weasel::load {
namespace {

constexpr std::string_view kUsage =
    "usage: load_tester --target HOST:PORT (--duration S | --requests N) [options]\n"
    "  --connections N    open connections (default 16)\n"
    "  --threads T        threads, each with its own epoll loop (default 1)\n"
    "  --pipeline D       requests in flight per connection (default 1)\n"
    "  --duration S       measure for S seconds\n"
    "  --requests N       stop after N requests finished (with --duration: whichever first)\n"
    "  --warmup S         send load for S seconds before measuring (default 0)\n"
    "  --rate R           send R requests/s in total on a fixed schedule, latency counted\n"
    "                     from each request's due time (default 0: closed loop)\n"
    "  --method M         HTTP method (default GET)\n"
    "  --path P           request target (default /)\n"
    "  --header K:V       extra request header (repeatable)\n"
    "  --body STR         request body\n"
    "  --body-file FILE   request body from a file\n"
    "  --timeout-ms MS    per-request timeout, then the connection is reopened (10000)\n"
    "  --json             print one JSON line instead of the summary\n"
    "workloads (the default, static, sends the request given above on every connection):\n"
    "  --workload W       weasel-commit: POST /v1/commit, 1 point_read + 1 write\n"
    "                     etcd-txn: POST /v3/kv/txn, compare mod_revision + put\n"
    "                     redis-cas: EVALSHA of a compare-and-set script (RESP)\n"
    "  --protocol P       http or resp (default: the workload's)\n"
    "  --keys N           key space of the transactional workloads (default 1000000)\n"
    "  --hot-fraction F   share of transactions on hot keys, 0..1 (default 0)\n"
    "  --hot-keys N       number of hot keys (default 10)\n"
    "  --key-bytes N      key size (default 16)\n"
    "  --value-bytes N    value size (default 100)\n"
    "  --seed N           random seed (default 1)\n"
    "exit status: 0 when at least one request got a 2xx answer (RESP: a non-error reply),\n"
    "1 otherwise, 2 on bad usage or when the workload cannot be prepared\n";

template <typename Int>
bool parse_int(std::string_view text, Int& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

// A decimal number (validate_* checks the range).
bool parse_double(std::string_view text, double& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool parse_target(std::string_view text, LoadOptions& options) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);  // [::1]:8080
  }
  if (host.empty() || !parse_int(text.substr(colon + 1), options.port)) return false;
  options.host.assign(host);
  return true;
}

bool read_file(const std::string& path, std::string& contents) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  std::ostringstream buffer;
  buffer << file.rdbuf();
  contents = std::move(buffer).str();
  return !file.bad();
}

// Applies one `--name value` pair of the transactional workloads. nullopt: not one of theirs.
std::optional<std::string> apply_workload(std::string_view name, std::string_view value,
                                          WorkloadSpec& w) {
  TxnOptions& t = w.txn;
  if (name == "--workload") {
    w.name.assign(value);
    return "";
  }
  if (name == "--protocol") {
    w.protocol.assign(value);
    return "";
  }
  if (name == "--keys") return parse_int(value, t.keys) ? "" : "--keys: integer";
  if (name == "--hot-keys") return parse_int(value, t.hot_keys) ? "" : "--hot-keys: integer";
  if (name == "--key-bytes") return parse_int(value, t.key_bytes) ? "" : "--key-bytes: integer";
  if (name == "--value-bytes") {
    return parse_int(value, t.value_bytes) ? "" : "--value-bytes: integer";
  }
  if (name == "--seed") return parse_int(value, t.seed) ? "" : "--seed: integer";
  if (name == "--hot-fraction") {
    return parse_double(value, t.hot_fraction) ? "" : "--hot-fraction: a number";
  }
  return std::nullopt;
}

// Applies one `--name value` pair. Returns an error or empty.
std::string apply(std::string_view name, std::string_view value, CliResult& cli) {
  if (auto result = apply_workload(name, value, cli.workload)) return *std::move(result);
  LoadOptions& o = cli.options;
  if (name == "--target") return parse_target(value, o) ? "" : "--target: expected HOST:PORT";
  if (name == "--connections")
    return parse_int(value, o.connections) ? "" : "--connections: integer";
  if (name == "--threads") return parse_int(value, o.threads) ? "" : "--threads: integer";
  if (name == "--pipeline") return parse_int(value, o.pipeline_depth) ? "" : "--pipeline: integer";
  if (name == "--requests") return parse_int(value, o.requests) ? "" : "--requests: integer";
  if (name == "--timeout-ms") return parse_int(value, o.timeout_ms) ? "" : "--timeout-ms: integer";
  if (name == "--duration") return parse_double(value, o.duration_s) ? "" : "--duration: seconds";
  if (name == "--warmup") return parse_double(value, o.warmup_s) ? "" : "--warmup: seconds";
  if (name == "--rate") return parse_double(value, o.rate_per_s) ? "" : "--rate: requests per second";
  if (name == "--method") {
    o.method.assign(value);
    return {};
  }
  if (name == "--path") {
    o.path.assign(value);
    return {};
  }
  if (name == "--body") {
    o.body.assign(value);
    return {};
  }
  if (name == "--body-file") {
    return read_file(std::string(value), o.body) ? ""
                                                 : "--body-file: cannot read " + std::string(value);
  }
  if (name == "--header") {
    const size_t colon = value.find(':');
    if (colon == std::string_view::npos) return "--header: expected K:V";
    std::string_view header_value = value.substr(colon + 1);
    while (!header_value.empty() && header_value.front() == ' ') header_value.remove_prefix(1);
    o.headers.emplace_back(std::string(value.substr(0, colon)), std::string(header_value));
    return "";
  }
  return "unknown option " + std::string(name);
}

}  // namespace

std::string_view cli_usage() {
  return kUsage;
}

CliResult parse_cli(std::span<const std::string_view> args) {
  CliResult result;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      result.help = true;
      return result;
    }
    if (arg == "--json") {
      result.json = true;
      continue;
    }
    if (i + 1 == args.size()) {
      result.error = arg.starts_with("--") ? std::string(arg) + ": missing value"
                                           : "unexpected argument " + std::string(arg);
      return result;
    }
    result.error = apply(arg, args[++i], result);
    if (!result.error.empty()) return result;
  }
  result.error = validate_options(result.options);
  if (result.error.empty()) result.error = validate_workload_spec(result.workload);
  return result;
}

}  // namespace weasel::load
