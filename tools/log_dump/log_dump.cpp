#include "log_dump/log_dump.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <optional>

#include "core/json_escape.hpp"
#include "log/local_log_store.hpp"
#include "stream/sse_format.hpp"

namespace weasel::log_dump {
namespace {

// Enough to amortize the store's per-call overhead; memory stays bounded by one chunk.
constexpr size_t kReadChunkBytes = 4 << 20;

constexpr std::string_view kUsage =
    "usage: weasel_log_dump --log DIR [--after VERSION]\n"
    "\n"
    "Prints every committed transaction of a WeaselDB local log, in version order, one JSON\n"
    "object per line:\n"
    "  {\"version\":V,\"prev_version\":P,\"timestamp_ms\":T,\"request_id\":\"...\","
    "\"leader_id\":\"...\",\n"
    "   \"operations\":[{\"type\":\"write\",\"key\":B64,\"value\":B64},"
    "{\"type\":\"delete\",\"key\":B64},\n"
    "                 {\"type\":\"range_delete\",\"begin\":B64,\"end\":B64}]}\n"
    "Keys and values are standard base64; a range_delete to the end of the key space has no\n"
    "\"end\".\n"
    "\n"
    "  --log DIR        the log directory (the server's is <data_dir>/log unless log.path\n"
    "                   says otherwise)\n"
    "  --after VERSION  only transactions above VERSION (default: all retained history)\n"
    "  --help           this text\n"
    "\n"
    "The server must be stopped: the log directory is locked by its user. Opening runs the\n"
    "server's recovery: a torn batch at the very end of the log is truncated away.\n"
    "Exit status: 0 dumped; 1 the log could not be opened or read (a corruption message\n"
    "names the file and offset); 2 usage error.\n";

std::optional<uint64_t> parse_uint64(std::string_view text) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

struct CliOptions {
  std::string log_directory;
  std::optional<uint64_t> after_version;
  bool help = false;
};

// Empty on success, else what is wrong with the command line.
std::string parse_cli(std::span<const std::string_view> args, CliOptions& options) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      options.help = true;
      continue;
    }
    if (arg != "--log" && arg != "--after") return "unknown argument '" + std::string(arg) + "'";
    if (i + 1 == args.size()) return std::string(arg) + " needs a value";
    const std::string_view value = args[++i];
    if (arg == "--log") {
      if (value.empty()) return "--log: empty directory";
      options.log_directory = value;
    } else {
      options.after_version = parse_uint64(value);
      if (!options.after_version) {
        return "--after: expected a version (an unsigned integer), got '" + std::string(value) +
               "'";
      }
    }
  }
  if (!options.help && options.log_directory.empty()) return "--log DIR is required";
  return {};
}

Status write_all(std::FILE* out, std::string_view bytes) {
  if (bytes.empty()) return {};
  if (std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size()) {
    return Status::io_error(std::string("write to the output: ") + std::strerror(errno));
  }
  return {};
}

}  // namespace

void append_transaction_json(std::string& out, const TransactionView& txn,
                             std::string_view leader_id) {
  out += "{\"version\":";
  out += std::to_string(txn.version);
  out += ",\"prev_version\":";
  out += std::to_string(txn.prev_version);
  out += ",\"timestamp_ms\":";
  out += std::to_string(txn.timestamp_ms);
  out += ",\"request_id\":";
  append_json_string(out, txn.request_id);
  out += ",\"leader_id\":";
  append_json_string(out, leader_id);
  out += ",\"operations\":[";
  bool first = true;
  for (const LogOperation& op : txn.operations) {
    if (!first) out += ',';
    first = false;
    append_operation_json(out, op);
  }
  out += "]}\n";
}

Result<DumpSummary> dump_log(const LogStore& log, uint64_t after_version, const LineSink& sink) {
  DumpSummary summary;
  // The store is locked by us, but a live store (tests) may grow meanwhile: dump at least what
  // was there when we started.
  const uint64_t latest = log.latest_version();
  uint64_t cursor = after_version;
  uint64_t last_dumped = after_version;
  std::string lines;
  Status failure;
  const LogStore::BatchCallback on_batch = [&](std::string_view bytes) {
    const BatchDecodeResult decoded = BatchView::decode(bytes);
    if (decoded.status != DecodeStatus::kOk) {  // the store verified it: defence in depth
      failure = Status::corruption(std::string("undecodable batch after version ") +
                                   std::to_string(last_dumped) + ": " + decoded.reason);
      return false;
    }
    lines.clear();
    for (const TransactionView& txn : decoded.batch.transactions()) {
      if (txn.version <= last_dumped) continue;  // the first batch may begin before `after`
      const bool chained = summary.transaction_count == 0 ? txn.prev_version <= last_dumped
                                                          : txn.prev_version == last_dumped;
      if (!chained) {
        failure = Status::corruption(
            "version chain broken: version " + std::to_string(txn.version) + " follows version " +
            std::to_string(txn.prev_version) + ", expected " + std::to_string(last_dumped));
        return false;
      }
      append_transaction_json(lines, txn, decoded.batch.leader_id());
      if (summary.transaction_count++ == 0) summary.first_version = txn.version;
      last_dumped = txn.version;
    }
    failure = sink(lines);
    return failure.ok();
  };
  while (cursor < latest) {
    Result<uint64_t> next = log.read_after(cursor, kReadChunkBytes, on_batch);
    if (!failure.ok()) return failure;
    if (!next.ok()) return next.status();
    if (next.value() <= cursor) {
      return Status::corruption("the log claims history up to version " + std::to_string(latest) +
                                " but ends at version " + std::to_string(cursor));
    }
    cursor = next.value();
  }
  summary.last_version = summary.transaction_count > 0 ? last_dumped : 0;
  return summary;
}

int run_log_dump(std::span<const std::string_view> args, std::FILE* out, std::FILE* err) {
  CliOptions options;
  if (std::string problem = parse_cli(args, options); !problem.empty()) {
    std::fprintf(err, "weasel_log_dump: %s\n%.*s", problem.c_str(), static_cast<int>(kUsage.size()),
                 kUsage.data());
    return 2;
  }
  if (options.help) {
    return write_all(out, kUsage).ok() && std::fflush(out) == 0 ? 0 : 1;
  }
  LocalLogStoreOptions store_options;
  store_options.directory = options.log_directory;
  store_options.create_if_missing = false;  // a typo must not create an empty log
  auto opened = LocalLogStore::open(store_options);
  if (!opened.ok()) {
    const Status& s = opened.status();
    std::fprintf(err, "weasel_log_dump: cannot open the log in %s: %s%s\n",
                 options.log_directory.c_str(), s.to_string().c_str(),
                 s.code() == StatusCode::kBusy ? " (stop the server first)" : "");
    return 1;
  }
  const std::unique_ptr<LocalLogStore> store = std::move(opened).value();
  const uint64_t after = options.after_version.value_or(store->oldest_version());
  Result<DumpSummary> dumped =
      dump_log(*store, after, [out](std::string_view lines) { return write_all(out, lines); });
  if (dumped.ok() && std::fflush(out) != 0) {
    dumped = Status::io_error(std::string("write to the output: ") + std::strerror(errno));
  }
  if (!dumped.ok()) {
    std::fprintf(err, "weasel_log_dump: %s: %s\n", options.log_directory.c_str(),
                 dumped.status().to_string().c_str());
    return 1;
  }
  return 0;
}

}  // namespace weasel::log_dump
