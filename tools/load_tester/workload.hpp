#pragma once
// Workload: decides what each connection sends next.
//
// Contract: a load thread owns one Workload (made by a WorkloadFactory for that thread) and
// calls it only from that thread, so a workload needs no locking. next_request() appends the
// complete bytes of exactly one request to `out` (framed with the protocol's helpers, such as
// frame_http_request) and returns what the protocol needs to delimit its response.
// on_response() sees every final response in request order, before the connection's next
// request is made, so a workload may steer later requests by earlier answers (a read version,
// a request id to look up). Views in a Response die when on_response() returns. It also says
// what the answer meant (an Outcome), because a status code does not always tell: etcd
// answers a failed compare with 200, Redis has no status codes at all.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "load_tester/byte_buffer.hpp"
#include "load_tester/http_protocol.hpp"
#include "load_tester/protocol.hpp"

namespace weasel::load {

// What an answer meant to a transactional workload. The load thread counts outcomes of
// measured requests; kNone (the default) is not counted.
enum class Outcome : uint8_t { kNone, kSuccess, kConflict, kFailure };
inline constexpr size_t kOutcomeCount = 4;

class Workload {
 public:
  virtual ~Workload() = default;

  // `connection_id` is stable for the whole run (0..connections-1), across reconnects.
  virtual RequestMeta next_request(uint32_t connection_id, ByteBuffer& out) = 0;

  virtual Outcome on_response(uint32_t connection_id, const Response& response) {
    (void)connection_id;
    (void)response;
    return Outcome::kNone;
  }

  // The connection closed with `lost_requests` requests that will never be answered on it.
  virtual void on_connection_lost(uint32_t connection_id, uint32_t lost_requests) {
    (void)connection_id;
    (void)lost_requests;
  }
};

using WorkloadFactory = std::function<std::unique_ptr<Workload>(uint32_t thread_index)>;
using ProtocolFactory = std::function<std::unique_ptr<Protocol>()>;

// The same HTTP request on every connection, framed once at construction so that each request
// costs one memcpy.
class StaticHttpWorkload final : public Workload {
 public:
  StaticHttpWorkload(std::string_view method, std::string_view target, std::string_view host,
                     std::span<const HttpHeader> headers, std::string_view body);

  RequestMeta next_request(uint32_t connection_id, ByteBuffer& out) override;

  std::string_view request_bytes() const { return request_; }

 private:
  std::string request_;
  RequestMeta meta_;
};

}  // namespace weasel::load
