#include "load_tester/workload.hpp"

namespace weasel::load {

StaticHttpWorkload::StaticHttpWorkload(std::string_view method, std::string_view target,
                                       std::string_view host, std::span<const HttpHeader> headers,
                                       std::string_view body) {
  ByteBuffer framed(256 + body.size());
  frame_http_request(framed, method, target, host, headers, body);
  request_.assign(framed.view());
  meta_.expects_no_body = method == "HEAD";
}

RequestMeta StaticHttpWorkload::next_request(uint32_t connection_id, ByteBuffer& out) {
  (void)connection_id;
  out.append(request_);
  return meta_;
}

}  // namespace weasel::load
