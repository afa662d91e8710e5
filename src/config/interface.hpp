#pragma once
// InterfaceConfig: one listening socket of the server (TCP host:port or a Unix socket path),
// and the one textual syntax for it shared by `--listen` and the start-up log:
//   HOST:PORT        IPv4 literal or host name, e.g. 127.0.0.1:8080, localhost:8080
//   [V6ADDR]:PORT    IPv6 literal in brackets, e.g. [::1]:8080
//   unix:PATH        Unix domain socket, e.g. unix:/run/weaseldb.sock
// The checks here are syntactic: a host name is resolved, and a path bound, by the server.
// Plain values, no ownership subtleties; everything here is thread-compatible.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace weasel {

struct InterfaceConfig {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  // kTcp only. An IPv6 literal is stored without brackets ("::1").
  std::string host = "127.0.0.1";
  // kTcp only. 0 lets the kernel pick a free port (useful for tests).
  uint16_t port = 8080;
  // kUnix only: the socket's file system path.
  std::string path;

  bool operator==(const InterfaceConfig&) const = default;
};

// sizeof(sockaddr_un::sun_path) is 108 on Linux, and the path needs its terminating NUL.
inline constexpr size_t kUnixPathBytesMax = 107;
// A limit on the listening sockets of one server.
inline constexpr size_t kInterfacesMax = 16;
// The longest DNS name (RFC 1035).
inline constexpr size_t kHostBytesMax = 253;

// Each returns an empty string when `text` is acceptable, else a short description of the
// problem (for an error message that the caller prefixes with the key).
std::string check_interface_host(std::string_view host);
std::string check_unix_path(std::string_view path);

// Parses the `--listen` syntax above. Throws ConfigError (key "server.interfaces") naming
// the text and what is wrong with it.
InterfaceConfig parse_listen_address(std::string_view text);

// The inverse of parse_listen_address: "127.0.0.1:8080", "[::1]:8080", "unix:/x.sock".
std::string format_interface(const InterfaceConfig& interface);

}  // namespace weasel
