#pragma once
// weasel_log_dump: prints the committed transactions of a log as JSON lines, for operators
// (what did commit, with which request id, when) and for the crash and serializability tests
// (tests/api), which compare the log with what clients were told.
//
// Output: one object per transaction, in version order, each on its own line:
//   {"version":V,"prev_version":P,"timestamp_ms":T,"request_id":"...","leader_id":"...",
//    "operations":[{"type":"write","key":B64,"value":B64},{"type":"delete","key":B64},
//                  {"type":"range_delete","begin":B64,"end":B64}]}
// Keys and values are standard base64 (the commit request's shapes, SPEC section 3); a
// range_delete to the end of the key space has no "end". leader_id is the id of the leader
// that wrote the transaction's batch.
//
// Contract
// - dump_log() hands `sink` whole lines only, one call per batch (a reused buffer: the view
//   is valid during the call). It checks the version chain as it goes (every transaction
//   follows the one before it) and reports a break as corruption rather than printing a
//   history with a hole in it.
// - run_log_dump() is the whole program (main() only forwards to it), so the command line is
//   testable in process. It opens the log with LocalLogStore::open, which locks the directory
//   (the server must be stopped) and runs the server's recovery (a torn batch at the very end
//   of the log is truncated away, with a warning on the spdlog logger).
//
// Ownership: nothing is retained between calls; `log`, `sink`, `out` and `err` are borrowed.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "core/status.hpp"
#include "log/log_format.hpp"
#include "log/log_store.hpp"

namespace weasel::log_dump {

// Appends the JSON line of `txn` (newline included) to `out`.
void append_transaction_json(std::string& out, const TransactionView& txn,
                             std::string_view leader_id);

struct DumpSummary {
  uint64_t transaction_count = 0;
  uint64_t first_version = 0;  // 0 when nothing was dumped
  uint64_t last_version = 0;   // 0 when nothing was dumped
};

// Receives the JSON lines of one batch; a failed status (a write error) stops the dump.
using LineSink = std::function<Status(std::string_view lines)>;

// Every transaction of `log` with a version above `after_version`, in version order, to
// `sink`. Errors: log_truncated (after_version is below the oldest retained version), the
// store's corruption or io_error (naming file and offset), corruption for a broken version
// chain, or the sink's own error.
Result<DumpSummary> dump_log(const LogStore& log, uint64_t after_version, const LineSink& sink);

// weasel_log_dump --log DIR [--after VERSION] [--help], without the program name. Writes the
// lines to `out` and messages to `err`. Returns the exit status: 0 dumped, 1 the log could not
// be opened, read or written out, 2 usage error.
int run_log_dump(std::span<const std::string_view> args, std::FILE* out, std::FILE* err);

}  // namespace weasel::log_dump
