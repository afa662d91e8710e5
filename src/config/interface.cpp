#include "config/interface.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "config/config_error.hpp"
#include "core/assert.hpp"

namespace weasel {
namespace {

constexpr std::string_view kListenKey = "server.interfaces";
constexpr std::string_view kUnixPrefix = "unix:";

bool is_ipv4_literal(const std::string& host) {
  in_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

bool is_ipv6_literal(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

// A dotted host name: labels of [A-Za-z0-9-], 1..63 bytes, not starting or ending with '-'.
std::string check_host_name(std::string_view host) {
  if (!std::all_of(host.begin(), host.end(), is_name_char)) {
    return "is neither an IP address nor a host name";
  }
  bool all_numeric = true;
  size_t begin = 0;
  while (begin <= host.size()) {
    size_t end = host.find('.', begin);
    if (end == std::string_view::npos) end = host.size();
    std::string_view label = host.substr(begin, end - begin);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return "is not a valid host name";
    }
    all_numeric = all_numeric && std::all_of(label.begin(), label.end(),
                                             [](char c) { return c >= '0' && c <= '9'; });
    begin = end + 1;
  }
  // "300.1.2.3" is neither a valid IPv4 address nor a sensible name: say so now rather
  // than let the resolver fail at bind time.
  if (all_numeric && !is_ipv4_literal(std::string(host))) return "is not a valid IPv4 address";
  return {};
}

[[noreturn]] void listen_error(std::string_view text, std::string_view problem) {
  throw ConfigError(std::string(kListenKey), "--listen '" + std::string(text) +
                                                 "': " + std::string(problem) +
                                                 " (expected HOST:PORT, [IPV6]:PORT or unix:PATH)");
}

uint16_t parse_port(std::string_view text, std::string_view digits) {
  if (digits.empty() || digits.size() > 5 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    listen_error(text, "the port is not a number in 0..65535");
  }
  uint32_t port = 0;
  for (char c : digits) port = port * 10 + static_cast<uint32_t>(c - '0');
  if (port > 65535) listen_error(text, "the port is not a number in 0..65535");
  return static_cast<uint16_t>(port);
}

}  // namespace

std::string check_interface_host(std::string_view host) {
  if (host.empty()) return "is empty";
  if (host.size() > kHostBytesMax) {
    return "is longer than " + std::to_string(kHostBytesMax) + " bytes";
  }
  if (host.find(':') != std::string_view::npos) {
    if (is_ipv6_literal(std::string(host))) return {};
    return "is not a valid IPv6 address (write it without brackets, e.g. \"::1\")";
  }
  return check_host_name(host);
}

std::string check_unix_path(std::string_view path) {
  if (path.empty()) return "is empty";
  if (path.find('\0') != std::string_view::npos) return "contains a NUL byte";
  if (path.size() > kUnixPathBytesMax) {
    return "is longer than " + std::to_string(kUnixPathBytesMax) +
           " bytes (the limit of a Unix socket address)";
  }
  return {};
}

InterfaceConfig parse_listen_address(std::string_view text) {
  InterfaceConfig interface;
  if (text.starts_with(kUnixPrefix)) {
    interface.kind = InterfaceConfig::Kind::kUnix;
    interface.path = std::string(text.substr(kUnixPrefix.size()));
    std::string problem = check_unix_path(interface.path);
    if (!problem.empty()) listen_error(text, "the socket path " + problem);
    return interface;
  }
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) listen_error(text, "missing ':PORT'");
  std::string_view host = text.substr(0, colon);
  if (host.starts_with('[')) {
    if (!host.ends_with(']')) listen_error(text, "unbalanced '[' around the IPv6 address");
    host = host.substr(1, host.size() - 2);
    if (!is_ipv6_literal(std::string(host))) {
      listen_error(text, "'" + std::string(host) + "' is not a valid IPv6 address");
    }
  } else if (host.find(':') != std::string_view::npos) {
    listen_error(text, "an IPv6 address must be written in brackets, e.g. [::1]:8080");
  }
  if (host.empty()) listen_error(text, "missing host (use 0.0.0.0 for every IPv4 address)");
  std::string problem = check_interface_host(host);
  if (!problem.empty()) listen_error(text, "the host " + problem);
  interface.host = std::string(host);
  interface.port = parse_port(text, text.substr(colon + 1));
  return interface;
}

std::string format_interface(const InterfaceConfig& interface) {
  if (interface.kind == InterfaceConfig::Kind::kUnix) {
    return std::string(kUnixPrefix) + interface.path;
  }
  WEASEL_ASSERT(interface.kind == InterfaceConfig::Kind::kTcp);
  std::string port = std::to_string(interface.port);
  if (interface.host.find(':') != std::string::npos) return "[" + interface.host + "]:" + port;
  return interface.host + ":" + port;
}

}  // namespace weasel
