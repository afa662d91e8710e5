#include "load_tester/workload_setup.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "load_tester/http_protocol.hpp"
#include "load_tester/load_thread.hpp"
#include "load_tester/resp_protocol.hpp"

namespace weasel::load {
namespace {

constexpr size_t kMaxExchangeBytes = 16 * 1024 * 1024;

struct SocketCloser {
  int fd;
  ~SocketCloser() {
    if (fd >= 0) close(fd);
  }
};

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

std::string send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_text("send");
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

// Reads until `protocol` finds a final response at the front of `in`.
ExchangeResult receive_one(int fd, const Protocol& protocol) {
  ExchangeResult result;
  ByteBuffer in(4096);
  bool peer_closed = false;
  for (;;) {
    const ScanResult scan = protocol.scan_response(in.view(), RequestMeta{}, peer_closed);
    if (scan.status == ScanStatus::kMalformed) {
      result.error = std::string("malformed response: ") + scan.error;
      return result;
    }
    if (scan.status == ScanStatus::kComplete && scan.response.interim) {
      in.consume(scan.length);
      continue;
    }
    if (scan.status == ScanStatus::kComplete) {
      result.status_code = scan.response.status_code;
      result.raw.assign(scan.response.raw);
      result.body.assign(scan.response.body);
      return result;
    }
    if (peer_closed || in.size() > kMaxExchangeBytes) {
      result.error = peer_closed ? "connection closed before a response" : "response too large";
      return result;
    }
    char* room = in.reserve_back(4096);
    const ssize_t n = recv(fd, room, in.back_room(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result.error = errno_text("recv");
      return result;
    }
    in.commit(static_cast<size_t>(n));
    peer_closed = n == 0;
  }
}

// The body of a 200 answer to `request`, or an error naming `what`.
ExchangeResult ask(const LoadOptions& options, const char* what, std::string_view request,
                   const Protocol& protocol) {
  ExchangeResult r =
      exchange_once(options.host, options.port, request, protocol, options.timeout_ms);
  if (r.error.empty() && r.status_code != 200) {
    r.error = "status " + std::to_string(r.status_code) + ": " + r.body.substr(0, 200);
  }
  if (!r.error.empty()) r.error = std::string(what) + ": " + r.error;
  return r;
}

std::string http_request(const LoadOptions& options, std::string_view method,
                         std::string_view target, std::string_view body) {
  ByteBuffer out(256 + body.size());
  const HttpHeader headers[] = {{"Content-Type", "application/json"}};
  frame_http_request(out, method, target, host_header_value(options), headers, body);
  return std::string(out.view());
}

std::string install_weasel(const TxnOptions& txn, LoadOptions& options) {
  const ExchangeResult r = ask(options, "GET /v1/version",
                               http_request(options, "GET", "/v1/version", ""), HttpProtocol());
  if (!r.error.empty()) return r.error;
  const auto version = find_json_uint(r.body, "version");
  if (!version) return "GET /v1/version: no \"version\" in " + r.body;
  options.make_workload = [txn, host = host_header_value(options), start = *version](uint32_t t) {
    return std::make_unique<WeaselCommitWorkload>(txn, t, host, start);
  };
  options.make_protocol = [] { return std::make_unique<HttpProtocol>(); };
  return {};
}

std::string install_etcd(const TxnOptions& txn, LoadOptions& options) {
  // A count-only range read of the key "\0": its header carries the store's revision.
  const ExchangeResult r =
      ask(options, "POST /v3/kv/range",
          http_request(options, "POST", "/v3/kv/range", R"({"key":"AA==","count_only":true})"),
          HttpProtocol());
  if (!r.error.empty()) return r.error;
  const auto revision = find_json_uint(r.body, "revision");
  if (!revision) return "POST /v3/kv/range: no \"revision\" in " + r.body;
  options.make_workload = [txn, host = host_header_value(options), start = *revision](uint32_t t) {
    return std::make_unique<EtcdTxnWorkload>(txn, t, host, start);
  };
  options.make_protocol = [] { return std::make_unique<HttpProtocol>(); };
  return {};
}

std::string install_redis(const TxnOptions& txn, LoadOptions& options) {
  ByteBuffer out(1024);
  const std::string_view load[] = {"SCRIPT", "LOAD", redis_cas_script()};
  frame_resp_command(out, load);
  const ExchangeResult sha = ask(options, "SCRIPT LOAD", out.view(), RespProtocol());
  if (!sha.error.empty()) return sha.error;
  if (sha.body.size() != 40) return "SCRIPT LOAD: unexpected answer " + sha.raw;
  out.clear();
  const std::string_view get[] = {"GET", kRedisVersionKey};
  frame_resp_command(out, get);
  const ExchangeResult current = ask(options, "GET version", out.view(), RespProtocol());
  if (!current.error.empty()) return current.error;
  uint64_t start = 0;  // a null reply: nothing committed yet
  const std::string& text = current.body;
  if (!text.empty() && std::from_chars(text.data(), text.data() + text.size(), start).ptr !=
                           text.data() + text.size()) {
    return "GET " + std::string(kRedisVersionKey) + ": not a number: " + text;
  }
  options.make_workload = [txn, sha = sha.body, start](uint32_t t) {
    return std::make_unique<RedisCasWorkload>(txn, t, sha, start);
  };
  options.make_protocol = [] { return std::make_unique<RespProtocol>(); };
  return {};
}

}  // namespace

std::string validate_workload_spec(const WorkloadSpec& spec) {
  const bool resp = spec.name == "redis-cas";
  if (!resp && spec.name != "static" && spec.name != "weasel-commit" && spec.name != "etcd-txn") {
    return "--workload: one of static, weasel-commit, etcd-txn, redis-cas";
  }
  if (!spec.protocol.empty() && spec.protocol != "http" && spec.protocol != "resp") {
    return "--protocol: http or resp";
  }
  if (!spec.protocol.empty() && (spec.protocol == "resp") != resp) {
    return "--protocol " + spec.protocol + " does not fit --workload " + spec.name +
           " (redis-cas speaks resp, the others http)";
  }
  return spec.name == "static" ? std::string() : validate_txn_options(spec.txn);
}

std::string install_workload(const WorkloadSpec& spec, LoadOptions& options) {
  if (std::string error = validate_workload_spec(spec); !error.empty()) return error;
  if (spec.name == "static") return {};  // run_load's default: the request of the options
  std::string error = spec.name == "weasel-commit" ? install_weasel(spec.txn, options)
                      : spec.name == "etcd-txn"    ? install_etcd(spec.txn, options)
                                                   : install_redis(spec.txn, options);
  if (error.empty()) options.workload_name = spec.name;
  return error;
}

ExchangeResult exchange_once(const std::string& host, uint16_t port, std::string_view request,
                             const Protocol& protocol, uint32_t timeout_ms) {
  ExchangeResult result;
  TargetAddress target;
  result.error = resolve_target(host, port, target);
  if (!result.error.empty()) return result;
  const SocketCloser socket_fd{socket(target.address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (socket_fd.fd < 0) {
    result.error = errno_text("socket");
    return result;
  }
  // SO_SNDTIMEO also bounds connect() on Linux.
  const timeval timeout{.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
  setsockopt(socket_fd.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(socket_fd.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  const int one = 1;
  setsockopt(socket_fd.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(socket_fd.fd, reinterpret_cast<const sockaddr*>(&target.address), target.length) !=
      0) {
    result.error = errno_text("connect");
    return result;
  }
  result.error = send_all(socket_fd.fd, request);
  if (!result.error.empty()) return result;
  return receive_one(socket_fd.fd, protocol);
}

}  // namespace weasel::load
