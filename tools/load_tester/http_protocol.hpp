#pragma once
// HTTP/1.1 client side of the load tester: response delimiting and request framing.
//
// Contract: HttpProtocol delimits responses by status line and headers, then by
// Content-Length, by chunked transfer coding (trailers allowed), or by the connection close;
// 1xx responses are reported as interim, 204/304 and responses to HEAD have no body. It
// validates only what it needs to delimit; anything it cannot delimit is kMalformed.
// frame_http_request() appends one request to a buffer; it owns nothing.

#include <span>
#include <string_view>

#include "load_tester/byte_buffer.hpp"
#include "load_tester/protocol.hpp"

namespace weasel::load {

struct HttpHeader {
  std::string_view name;
  std::string_view value;
};

class HttpProtocol final : public Protocol {
 public:
  static constexpr size_t kMaxHeaderBytes = 64 * 1024;
  static constexpr size_t kMaxChunkLineBytes = 1024;

  ScanResult scan_response(std::string_view buffer, const RequestMeta& request,
                           bool peer_closed) const override;
};

// Appends `method target HTTP/1.1`, a Host header unless `headers` has one, `headers`, a
// Content-Length (unless `headers` has one) when there is a body or the method usually
// carries one, then the body.
void frame_http_request(ByteBuffer& out, std::string_view method, std::string_view target,
                        std::string_view host, std::span<const HttpHeader> headers,
                        std::string_view body);

// Case-insensitive ASCII comparison, as HTTP header names need.
bool ascii_iequals(std::string_view a, std::string_view b);

}  // namespace weasel::load
