#include "stream/sse_format.hpp"

#include <charconv>

#include "core/base64.hpp"
#include "core/json_escape.hpp"

namespace weasel {
namespace {

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

void append_b64_field(std::string& out, std::string_view name, std::string_view bytes) {
  out += ",\"";
  out += name;
  out += "\":\"";
  base64_encode_append(out, bytes);
  out += '"';
}

}  // namespace

void append_operation_json(std::string& out, const LogOperation& op) {
  switch (op.type) {
    case LogOperation::Type::kWrite:
      out += "{\"type\":\"write\"";
      append_b64_field(out, "key", op.key);
      append_b64_field(out, "value", op.value);
      break;
    case LogOperation::Type::kDelete:
      out += "{\"type\":\"delete\"";
      append_b64_field(out, "key", op.key);
      break;
    case LogOperation::Type::kRangeDelete:
      out += "{\"type\":\"range_delete\"";
      append_b64_field(out, "begin", op.key);
      if (!op.end_is_infinite) append_b64_field(out, "end", op.end);
      break;
  }
  out += '}';
}

namespace {

// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm, proleptic Gregorian).
void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

void append_digits(std::string& out, uint64_t v, int width) {
  char buf[20];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, static_cast<size_t>(width));
}

}  // namespace

bool KeyFilter::touches(const LogOperation& op) const {
  if (!active) return true;
  const auto below_end = [this](std::string_view k) { return end_is_infinite || k < end; };
  if (op.type != LogOperation::Type::kRangeDelete) {
    return op.key >= std::string_view(begin) && below_end(op.key);
  }
  // [op.key, op.end) intersects [begin, end).
  const bool starts_before_end = below_end(op.key);
  const bool ends_after_begin = op.end_is_infinite || op.end > std::string_view(begin);
  return starts_before_end && ends_after_begin;
}

bool append_transaction_event(std::string& out, const TransactionView& txn,
                              std::string_view leader_id, const KeyFilter& filter) {
  if (filter.active) {
    bool any = false;
    for (const LogOperation& op : txn.operations) {
      if (filter.touches(op)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  out += "id: ";
  append_uint(out, txn.version);
  out += "\nevent: transaction\ndata: {\"version\":";
  append_uint(out, txn.version);
  out += ",\"prev_version\":";
  append_uint(out, txn.prev_version);
  out += ",\"request_id\":";
  append_json_string(out, txn.request_id);
  out += ",\"timestamp\":\"";
  append_rfc3339_ms(out, txn.timestamp_ms);
  out += "\",\"leader_id\":";
  append_json_string(out, leader_id);
  out += ",\"operations\":[";
  bool first = true;
  for (const LogOperation& op : txn.operations) {
    if (!filter.touches(op)) continue;
    if (!first) out += ',';
    first = false;
    append_operation_json(out, op);
  }
  out += "]}\n\n";
  return true;
}

void append_checkpoint_event(std::string& out, uint64_t committed_version,
                             std::string_view leader_id) {
  out += "event: checkpoint\ndata: {\"committed_version\":";
  append_uint(out, committed_version);
  out += ",\"leader_id\":";
  append_json_string(out, leader_id);
  out += "}\n\n";
}

void append_error_event(std::string& out, std::string_view code, std::string_view message,
                        std::string_view field, uint64_t value) {
  out += "event: error\ndata: {\"error\":";
  append_json_string(out, code);
  out += ",\"message\":";
  append_json_string(out, message);
  if (!field.empty()) {
    out += ",\"";
    out += field;
    out += "\":";
    append_uint(out, value);
  }
  out += "}\n\n";
}

void append_rfc3339_ms(std::string& out, int64_t unix_ms) {
  int64_t days = unix_ms / 86'400'000;
  int64_t ms_of_day = unix_ms % 86'400'000;
  if (ms_of_day < 0) {
    ms_of_day += 86'400'000;
    --days;
  }
  int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civil_from_days(days, year, month, day);
  if (year < 0 || year > 9999) year = year < 0 ? 0 : 9999;  // RFC 3339 has four digits
  append_digits(out, static_cast<uint64_t>(year), 4);
  out += '-';
  append_digits(out, month, 2);
  out += '-';
  append_digits(out, day, 2);
  out += 'T';
  const auto ms = static_cast<uint64_t>(ms_of_day);
  append_digits(out, ms / 3'600'000, 2);
  out += ':';
  append_digits(out, ms / 60'000 % 60, 2);
  out += ':';
  append_digits(out, ms / 1000 % 60, 2);
  out += '.';
  append_digits(out, ms % 1000, 3);
  out += 'Z';
}

}  // namespace weasel
