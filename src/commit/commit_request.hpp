#pragma once
// The validated form of a POST /v1/commit body (SPEC section 3), as the commit pipeline sees it.
//
// Contract
// - Produced only by a successful parse (commit_parser.hpp): every rule of the SPEC already
//   holds: sizes within CommitLimits, ranges with begin < end (unless end_is_infinite),
//   versions < 2^53, request_id empty or of valid length and charset.
// - Keys and values are DECODED bytes (not base64). The empty key is a valid key.
// - Preconditions and operations keep the order of the request (operations apply in order;
//   conflict reports name precondition indices).
//
// Ownership: every string_view and span points into the Arena the request was parsed into
// (never into the request body), so the request lives exactly as long as that arena's
// current contents: until its reset() or destruction. All types are trivially destructible.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace weasel {

// Versions stay below 2^53 so that JSON clients read them exactly (SPEC section 2).
inline constexpr uint64_t kMaxJsonVersionExclusive = uint64_t{1} << 53;

// Mirrors the [commit] section of the configuration (SPEC section 8).
struct CommitLimits {
  size_t max_key_bytes = 10000;
  size_t max_value_bytes = 100000;
  size_t max_preconditions = 10000;
  size_t max_operations = 10000;
  size_t min_request_id_length = 20;
  size_t max_request_id_length = 128;
};

// Empty when `id` is an acceptable request id (length within the limits, charset
// [A-Za-z0-9._:-]); otherwise the problem, for a 400 message.
std::string check_request_id(std::string_view id, const CommitLimits& limits);

struct Precondition {
  enum class Type : uint8_t { kPointRead, kRangeRead };
  Type type;
  std::string_view key;  // point_read key, or range begin
  std::string_view end;  // range end; empty when end_is_infinite or for point_read
  bool end_is_infinite;  // range_read without "end": to the end of the key space
  uint64_t version;      // its own "version", or the request's read_version
};

struct Operation {
  enum class Type : uint8_t { kWrite, kDelete, kRangeDelete };
  Type type;
  std::string_view key;    // write/delete key, or range begin
  std::string_view value;  // write value; empty otherwise
  std::string_view end;    // range end; empty when end_is_infinite or not a range
  bool end_is_infinite;    // range_delete without "end": to the end of the key space
};

struct CommitRequest {
  std::string_view request_id;  // empty when absent (the server generates a UUID)
  std::string_view leader_id;   // empty unless has_leader_id
  bool has_leader_id = false;
  uint64_t read_version = 0;  // 0 unless has_read_version
  bool has_read_version = false;
  std::span<const Precondition> preconditions;
  std::span<const Operation> operations;
};

}  // namespace weasel
