#pragma once
// Protocol: finds complete responses at the front of a connection's read buffer.
//
// Contract: scan_response() is a pure function of its arguments (it re-scans from the front on
// every call), owns nothing and never allocates, so one instance may serve every connection
// of a thread. Requests are framed by the workload with the protocol's framing helpers (for
// HTTP: frame_http_request in http_protocol.hpp), because only the workload knows what to
// send; the protocol only needs the RequestMeta the workload returned for each request.
// The views in a ScanResult point into the scanned buffer and die with its next change.

#include <cstddef>
#include <string_view>

namespace weasel::load {

// What the protocol must know about a request to delimit its response.
struct RequestMeta {
  bool expects_no_body = false;  // HTTP HEAD: the response has headers only
};

struct Response {
  // HTTP: the status code. Protocols without one map success to 200 and errors to >= 400.
  int status_code = 0;
  std::string_view raw;   // the whole response, headers included
  std::string_view body;  // the body as sent (still chunk-framed when `chunked`)
  bool chunked = false;
  bool interim = false;      // HTTP 1xx: not the final answer, the request stays in flight
  bool close_after = false;  // the peer closes the connection after this response
};

enum class ScanStatus { kIncomplete, kComplete, kMalformed };

struct ScanResult {
  ScanStatus status = ScanStatus::kIncomplete;
  size_t length = 0;            // kComplete: bytes the response occupies at the buffer front
  Response response;            // kComplete only
  const char* error = nullptr;  // kMalformed: a static description
};

class Protocol {
 public:
  virtual ~Protocol() = default;

  // Looks for one complete response to `request` at the front of `buffer`. `peer_closed`
  // says no more bytes will arrive: a response delimited by the close is then complete, and
  // a truncated one is malformed.
  virtual ScanResult scan_response(std::string_view buffer, const RequestMeta& request,
                                   bool peer_closed) const = 0;
};

}  // namespace weasel::load
