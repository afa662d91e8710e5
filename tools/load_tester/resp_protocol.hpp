#pragma once
// RESP (the Redis serialization protocol) client side: reply delimiting and command framing.
//
// Contract: RespProtocol delimits one complete reply at the front of the buffer: RESP2
// (simple string, error, integer, bulk string, array, nulls) and the RESP3 types (null,
// double, boolean, big number, blob error, verbatim string, map, set, attribute, push),
// nested to any depth. It validates what it needs to delimit (type bytes, lengths, the CRLF
// after bulk data, integer syntax) and reports anything else as kMalformed. Replies map to
// status codes as the Protocol contract asks: errors ('-' and '!') are 500, everything else
// 200. A RESP3 push ('>') is out-of-band data, not the answer: it is reported as interim, so
// the command stays in flight. Response::body is the payload of the top-level reply: the text
// after the type byte for line types (":42" -> "42"), the data of a bulk string (empty for a
// null), and the whole reply for aggregates. Pure and allocation-free, like every Protocol.
//
// frame_resp_command() appends one command as a RESP array of bulk strings (the form Redis
// accepts for every command, binary-safe). It owns nothing.

#include <cstdint>
#include <span>
#include <string_view>

#include "load_tester/byte_buffer.hpp"
#include "load_tester/protocol.hpp"

namespace weasel::load {

class RespProtocol final : public Protocol {
 public:
  static constexpr size_t kMaxLineBytes = 64 * 1024;      // a type byte, a length or a line
  static constexpr int64_t kMaxBulkBytes = 512 << 20;     // Redis's proto-max-bulk-len
  static constexpr int64_t kMaxAggregateCount = 1 << 24;  // elements of one array/map/set

  ScanResult scan_response(std::string_view buffer, const RequestMeta& request,
                           bool peer_closed) const override;
};

void frame_resp_command(ByteBuffer& out, std::span<const std::string_view> args);

}  // namespace weasel::load
