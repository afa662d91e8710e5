#include "load_tester/resp_protocol.hpp"

#include <charconv>

namespace weasel::load {
namespace {

constexpr std::string_view kCrlf = "\r\n";

ScanResult malformed(const char* why) {
  ScanResult result;
  result.status = ScanStatus::kMalformed;
  result.error = why;
  return result;
}

bool parse_int64(std::string_view text, int64_t& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

// One element header or line value, as read at a position of the buffer.
struct Element {
  char type = 0;
  std::string_view line;        // after the type byte, before the CRLF
  std::string_view payload;     // bulk types: the data; line types: `line`
  size_t end = 0;               // offset just past the element's own bytes (not its children)
  uint64_t children = 0;        // values that follow as part of this one
  bool counts_as_value = true;  // false for an attribute: it decorates the next value
};

enum class Step { kOk, kIncomplete, kMalformed };

// Reads a length line of an aggregate or bulk type: -1 is null when `null_ok`.
Step read_length(const Element& e, bool null_ok, int64_t max, int64_t& length, const char*& error) {
  if (!parse_int64(e.line, length) || length < (null_ok ? -1 : 0)) {
    error = "bad length";
    return Step::kMalformed;
  }
  if (length > max) {
    error = "length above the limit";
    return Step::kMalformed;
  }
  return Step::kOk;
}

Step read_bulk(std::string_view buffer, Element& e, const char*& error) {
  int64_t length = 0;
  if (read_length(e, e.type == '$', RespProtocol::kMaxBulkBytes, length, error) != Step::kOk) {
    return Step::kMalformed;
  }
  if (length < 0) return Step::kOk;  // $-1: a RESP2 null bulk string
  const size_t data_end = e.end + static_cast<size_t>(length);
  if (buffer.size() < data_end + kCrlf.size()) return Step::kIncomplete;
  if (buffer.substr(data_end, kCrlf.size()) != kCrlf) {
    error = "bulk data not followed by CRLF";
    return Step::kMalformed;
  }
  e.payload = buffer.substr(e.end, static_cast<size_t>(length));
  e.end = data_end + kCrlf.size();
  return Step::kOk;
}

Step read_aggregate(Element& e, const char*& error) {
  int64_t count = 0;
  if (read_length(e, e.type == '*', RespProtocol::kMaxAggregateCount, count, error) != Step::kOk) {
    return Step::kMalformed;
  }
  if (count < 0) return Step::kOk;  // *-1: a RESP2 null array
  const bool pairs = e.type == '%' || e.type == '|';
  e.children = static_cast<uint64_t>(count) * (pairs ? 2 : 1);
  e.counts_as_value = e.type != '|';
  return Step::kOk;
}

Step check_line(const Element& e, const char*& error) {
  int64_t ignored = 0;
  if (e.type == ':' && !parse_int64(e.line, ignored)) {
    error = "bad integer";
    return Step::kMalformed;
  }
  if ((e.type == '_' && !e.line.empty()) || (e.type == '#' && e.line != "t" && e.line != "f")) {
    error = "bad null or boolean";
    return Step::kMalformed;
  }
  return Step::kOk;
}

// Reads the element that starts at `pos`.
Step read_element(std::string_view buffer, size_t pos, Element& e, const char*& error) {
  const size_t line_end = buffer.find(kCrlf, pos);
  if (line_end == std::string_view::npos) {
    if (buffer.size() - pos > RespProtocol::kMaxLineBytes) {
      error = "reply line too long";
      return Step::kMalformed;
    }
    return Step::kIncomplete;
  }
  if (line_end - pos > RespProtocol::kMaxLineBytes) {
    error = "reply line too long";
    return Step::kMalformed;
  }
  e.type = buffer[pos];
  e.line = buffer.substr(pos + 1, line_end - pos - 1);
  e.payload = e.line;
  e.end = line_end + kCrlf.size();
  switch (e.type) {
    case '+':
    case '-':
    case ':':
    case ',':
    case '(':
    case '#':
    case '_':
      return check_line(e, error);
    case '$':
    case '!':
    case '=':
      e.payload = {};
      return read_bulk(buffer, e, error);
    case '*':
    case '~':
    case '>':
    case '%':
    case '|':
      return read_aggregate(e, error);
    default:
      error = "unknown reply type";
      return Step::kMalformed;
  }
}

}  // namespace

ScanResult RespProtocol::scan_response(std::string_view buffer, const RequestMeta& request,
                                       bool peer_closed) const {
  (void)request;  // every RESP reply delimits itself
  if (buffer.empty()) return ScanResult{};
  Element top;
  bool have_top = false;
  size_t pos = 0;
  uint64_t pending = 1;  // values still to read before the reply is complete
  while (pending > 0) {
    Element e;
    const char* error = nullptr;
    const Step step = read_element(buffer, pos, e, error);
    if (step == Step::kMalformed) return malformed(error);
    if (step == Step::kIncomplete) {
      return peer_closed ? malformed("connection closed inside a reply") : ScanResult{};
    }
    if (!have_top) top = e;
    have_top = true;
    pending += e.children;
    if (e.counts_as_value) pending -= 1;
    pos = e.end;
  }
  ScanResult result;
  result.status = ScanStatus::kComplete;
  result.length = pos;
  Response& response = result.response;
  response.status_code = top.type == '-' || top.type == '!' ? 500 : 200;
  response.interim = top.type == '>';
  response.raw = buffer.substr(0, pos);
  const bool aggregate = top.children > 0 || top.type == '*' || top.type == '~' ||
                         top.type == '%' || top.type == '|' || top.type == '>';
  response.body = aggregate ? response.raw : top.payload;
  return result;
}

void frame_resp_command(ByteBuffer& out, std::span<const std::string_view> args) {
  char digits[24];
  const auto append_header = [&](char type, size_t n) {
    digits[0] = type;
    const auto [end, ec] = std::to_chars(digits + 1, digits + sizeof(digits) - 2, n);
    WEASEL_ASSERT(ec == std::errc());
    end[0] = '\r';
    end[1] = '\n';
    out.append(std::string_view(digits, static_cast<size_t>(end + 2 - digits)));
  };
  append_header('*', args.size());
  for (const std::string_view arg : args) {
    append_header('$', arg.size());
    out.append(arg);
    out.append(kCrlf);
  }
}

}  // namespace weasel::load
