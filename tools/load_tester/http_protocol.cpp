#include "load_tester/http_protocol.hpp"

#include <charconv>
#include <cstdint>

namespace weasel::load {
namespace {

constexpr std::string_view kCrlf = "\r\n";

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when the comma-separated header value lists `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    const std::string_view item = trim_ows(value.substr(0, comma));
    if (ascii_iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

ScanResult malformed(const char* why) {
  ScanResult result;
  result.status = ScanStatus::kMalformed;
  result.error = why;
  return result;
}

ScanResult incomplete_or_truncated(bool peer_closed) {
  return peer_closed ? malformed("connection closed inside a response") : ScanResult{};
}

struct Head {
  int status_code = 0;
  bool keep_alive = true;
  bool chunked = false;
  bool has_length = false;
  uint64_t content_length = 0;
  bool close = false;
};

// Parses "HTTP/1.x SSS reason". Returns an error description or nullptr.
const char* parse_status_line(std::string_view line, Head& head) {
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
    return "bad status line";
  }
  if (line[7] != '0' && line[7] != '1') return "unsupported HTTP version";
  head.keep_alive = line[7] == '1';  // HTTP/1.0 closes unless it says keep-alive
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return "bad status code";
    code = code * 10 + (line[i] - '0');
  }
  if (code < 100 || (line.size() > 12 && line[12] != ' ')) return "bad status code";
  head.status_code = code;
  return nullptr;
}

const char* parse_header(std::string_view line, Head& head) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return "bad header line";
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = trim_ows(line.substr(colon + 1));
  if (ascii_iequals(name, "content-length")) {
    uint64_t length = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (ec != std::errc() || end != value.data() + value.size() || value.empty()) {
      return "bad Content-Length";
    }
    if (head.has_length && head.content_length != length) return "conflicting Content-Length";
    head.has_length = true;
    head.content_length = length;
  } else if (ascii_iequals(name, "transfer-encoding")) {
    head.chunked = has_token(value, "chunked");
  } else if (ascii_iequals(name, "connection")) {
    if (has_token(value, "close")) head.close = true;
    if (has_token(value, "keep-alive")) head.keep_alive = true;
  }
  return nullptr;
}

// Parses the status line and headers in `head_bytes` (which ends before the blank line).
const char* parse_head(std::string_view head_bytes, Head& head) {
  size_t line_end = head_bytes.find(kCrlf);
  if (const char* error = parse_status_line(head_bytes.substr(0, line_end), head)) return error;
  while (line_end != std::string_view::npos) {
    head_bytes.remove_prefix(line_end + kCrlf.size());
    line_end = head_bytes.find(kCrlf);
    if (const char* error = parse_header(head_bytes.substr(0, line_end), head)) return error;
  }
  return nullptr;
}

// Walks chunks from `pos`. Returns the end of the message (after the trailers), 0 when the
// buffer ends first, or sets `error`.
size_t scan_chunks(std::string_view buffer, size_t pos, const char*& error) {
  for (;;) {
    const size_t line_end = buffer.find(kCrlf, pos);
    if (line_end == std::string_view::npos) {
      if (buffer.size() - pos > HttpProtocol::kMaxChunkLineBytes) error = "chunk line too long";
      return 0;
    }
    uint64_t size = 0;
    const char* first = buffer.data() + pos;
    const auto [end, ec] = std::from_chars(first, buffer.data() + line_end, size, 16);
    if (ec != std::errc() || end == first || (*end != ';' && *end != '\r')) {
      error = "bad chunk size";
      return 0;
    }
    pos = line_end + kCrlf.size();
    if (size == 0) break;
    if (size > buffer.size() || buffer.size() - pos < size + kCrlf.size()) return 0;
    if (buffer.substr(pos + size, kCrlf.size()) != kCrlf) {
      error = "chunk data not followed by CRLF";
      return 0;
    }
    pos += size + kCrlf.size();
  }
  for (;;) {  // trailer fields, then the blank line
    const size_t line_end = buffer.find(kCrlf, pos);
    if (line_end == std::string_view::npos) {
      if (buffer.size() - pos > HttpProtocol::kMaxHeaderBytes) error = "trailers too long";
      return 0;
    }
    if (line_end == pos) return pos + kCrlf.size();
    pos = line_end + kCrlf.size();
  }
}

}  // namespace

bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

ScanResult HttpProtocol::scan_response(std::string_view buffer, const RequestMeta& request,
                                       bool peer_closed) const {
  const size_t blank = buffer.find("\r\n\r\n");
  if (blank == std::string_view::npos) {
    if (buffer.size() > kMaxHeaderBytes) return malformed("response head too large");
    return buffer.empty() && peer_closed ? ScanResult{} : incomplete_or_truncated(peer_closed);
  }
  Head head;
  if (const char* error = parse_head(buffer.substr(0, blank), head)) return malformed(error);
  const size_t body_begin = blank + 4;

  ScanResult result;
  Response& response = result.response;
  response.status_code = head.status_code;
  response.interim = head.status_code < 200 && head.status_code != 101;
  response.close_after = head.close || !head.keep_alive || head.status_code == 101;
  size_t end = 0;
  const bool no_body = head.status_code < 200 || head.status_code == 204 ||
                       head.status_code == 304 || request.expects_no_body;
  if (no_body) {
    end = body_begin;
  } else if (head.chunked) {
    const char* error = nullptr;
    end = scan_chunks(buffer, body_begin, error);
    if (error != nullptr) return malformed(error);
    if (end == 0) return incomplete_or_truncated(peer_closed);
    response.chunked = true;
  } else if (head.has_length) {
    if (buffer.size() - body_begin < head.content_length) {
      return incomplete_or_truncated(peer_closed);
    }
    end = body_begin + head.content_length;
  } else {
    if (!peer_closed) return ScanResult{};  // the body runs until the server closes
    end = buffer.size();
    response.close_after = true;
  }
  result.status = ScanStatus::kComplete;
  result.length = end;
  response.raw = buffer.substr(0, end);
  response.body = buffer.substr(body_begin, end - body_begin);
  return result;
}

void frame_http_request(ByteBuffer& out, std::string_view method, std::string_view target,
                        std::string_view host, std::span<const HttpHeader> headers,
                        std::string_view body) {
  out.append(method);
  out.append(" ");
  out.append(target);
  out.append(" HTTP/1.1\r\n");
  bool has_host = false;
  bool has_length = false;
  for (const HttpHeader& header : headers) {
    has_host |= ascii_iequals(header.name, "host");
    has_length |= ascii_iequals(header.name, "content-length");
  }
  if (!has_host) {
    out.append("Host: ");
    out.append(host);
    out.append(kCrlf);
  }
  for (const HttpHeader& header : headers) {
    out.append(header.name);
    out.append(": ");
    out.append(header.value);
    out.append(kCrlf);
  }
  const bool carries_body =
      !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
  if (carries_body && !has_length) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), body.size());
    WEASEL_ASSERT(ec == std::errc());
    out.append("Content-Length: ");
    out.append(std::string_view(digits, static_cast<size_t>(end - digits)));
    out.append(kCrlf);
  }
  out.append(kCrlf);
  out.append(body);
}

}  // namespace weasel::load
