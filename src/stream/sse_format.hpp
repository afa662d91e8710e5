#pragma once
// Server-Sent Events text of the subscription stream (SPEC section 3, GET /v1/subscribe):
// `transaction`, `checkpoint` and `error` events and the key-range filter. Pure functions
// over log views (log_format.hpp); they append to a caller-owned string and never fail.
//
// A transaction event:
//   id: <version>\nevent: transaction\ndata: {"version":V,"prev_version":P,"request_id":"R",
//   "timestamp":"2026-11-21T10:00:00.123Z","leader_id":"L","operations":[...]}\n\n
// Operations use the commit request's shapes (keys and values in base64); a range delete to
// the end of the key space has no "end".

#include <cstdint>
#include <string>
#include <string_view>

#include "log/log_format.hpp"

namespace weasel {

// The `begin`/`end` filter of a subscription: [begin, end), end absent = to the end of the key
// space. An inactive filter passes everything.
struct KeyFilter {
  bool active = false;
  std::string begin;
  std::string end;
  bool end_is_infinite = true;

  // Whether `op` writes, deletes or range-deletes a key inside the filter's range.
  bool touches(const LogOperation& op) const;
};

// Appends the event for `txn`. With an active filter only the operations it touches are
// listed, and a transaction touching none appends nothing and returns false.
bool append_transaction_event(std::string& out, const TransactionView& txn,
                              std::string_view leader_id, const KeyFilter& filter);

// One operation in the commit request's shape, e.g. {"type":"write","key":B64,"value":B64}
// (shared with tools/log_dump, which prints the log the same way).
void append_operation_json(std::string& out, const LogOperation& op);

// `event: checkpoint` with `{"committed_version":V,"leader_id":"L"}`.
void append_checkpoint_event(std::string& out, uint64_t committed_version,
                             std::string_view leader_id);

// `event: error` with `{"error":CODE,"message":M,<field>:<value>}` (field e.g. resume_after or
// oldest_version; omitted when empty).
void append_error_event(std::string& out, std::string_view code, std::string_view message,
                        std::string_view field, uint64_t value);

// RFC 3339 UTC with milliseconds, e.g. 2026-11-21T10:00:00.123Z.
void append_rfc3339_ms(std::string& out, int64_t unix_ms);

}  // namespace weasel
