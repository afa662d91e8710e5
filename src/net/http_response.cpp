#include "net/http_response.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <ctime>

#include "core/assert.hpp"
#include "core/json_escape.hpp"

namespace weasel {
namespace {

// Two memchr scans: find_first_of would call memchr on the two-byte set once per character.
bool has_line_break(std::string_view s) {
  return s.find('\r') != s.npos || s.find('\n') != s.npos;
}

void append_decimal(std::string& out, uint64_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof(digits), value);
  WEASEL_ASSERT(result.ec == std::errc());
  out.append(digits, static_cast<size_t>(result.ptr - digits));
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  WEASEL_ASSERT(!name.empty() && !has_line_break(name) && !has_line_break(value));
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

// Status line, Date, Content-Type and the caller's extra headers: what every response shares.
void append_common_head(std::string& out, int status, std::string_view content_type,
                        std::span<const HttpHeader> extra) {
  WEASEL_ASSERT(status >= 200 && status <= 999);
  out.append("HTTP/1.1 ");
  append_decimal(out, static_cast<uint64_t>(status));
  out.push_back(' ');
  out.append(http_reason_phrase(status));
  out.append("\r\nDate: ");
  out.append(http_date_now());
  out.append("\r\n");
  if (!content_type.empty()) append_header(out, "Content-Type", content_type);
  for (const HttpHeader& h : extra) append_header(out, h.name, h.value);
}

void append_connection(std::string& out, bool keep_alive, int version_minor) {
  WEASEL_ASSERT(version_minor == 0 || version_minor == 1);
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (version_minor == 0) {
    out.append("Connection: keep-alive\r\n");
  }
}

// Days since 1970-01-01 to (year, month, day); Howard Hinnant's civil_from_days.
void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  day = doy - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
}

void put_two_digits(char* p, unsigned value) {
  p[0] = static_cast<char>('0' + value / 10);
  p[1] = static_cast<char>('0' + value % 10);
}

}  // namespace

std::string_view http_reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void format_http_date(int64_t unix_seconds, std::span<char, kHttpDateSize> out) {
  static constexpr char kWeekdays[] = "SunMonTueWedThuFriSat";
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const int64_t days = (unix_seconds >= 0 ? unix_seconds : unix_seconds - 86399) / 86400;
  const auto second_of_day = static_cast<unsigned>(unix_seconds - days * 86400);
  const auto weekday = static_cast<unsigned>(((days % 7) + 7 + 4) % 7);  // 1970-01-01: Thu
  int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civil_from_days(days, year, month, day);
  WEASEL_ASSERT(year >= 0 && year <= 9999 && second_of_day < 86400);
  char* p = out.data();
  std::copy_n(kWeekdays + 3 * weekday, 3, p);
  p[3] = ',';
  p[4] = ' ';
  put_two_digits(p + 5, day);
  p[7] = ' ';
  std::copy_n(kMonths + 3 * (month - 1), 3, p + 8);
  p[11] = ' ';
  put_two_digits(p + 12, static_cast<unsigned>(year / 100));
  put_two_digits(p + 14, static_cast<unsigned>(year % 100));
  p[16] = ' ';
  put_two_digits(p + 17, second_of_day / 3600);
  p[19] = ':';
  put_two_digits(p + 20, second_of_day / 60 % 60);
  p[22] = ':';
  put_two_digits(p + 23, second_of_day % 60);
  std::copy_n(" GMT", 4, p + 25);
}

std::string_view http_date_now() {
  struct DateCache {
    int64_t second = INT64_MIN;
    std::array<char, kHttpDateSize> text{};
  };
  thread_local DateCache cache;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (now != cache.second) {
    format_http_date(now, cache.text);
    cache.second = now;
  }
  return std::string_view(cache.text.data(), cache.text.size());
}

void append_response_head(std::string& out, int status, std::string_view content_type,
                          size_t content_length, bool keep_alive, std::span<const HttpHeader> extra,
                          int version_minor) {
  append_common_head(out, status, content_type, extra);
  if (status == 204 || status == 304) {
    WEASEL_ASSERT(content_length == 0);
  } else {
    out.append("Content-Length: ");
    append_decimal(out, content_length);
    out.append("\r\n");
  }
  append_connection(out, keep_alive, version_minor);
  out.append("\r\n");
}

void append_response(std::string& out, int status, std::string_view content_type,
                     std::string_view body, bool keep_alive, std::span<const HttpHeader> extra,
                     int version_minor) {
  append_response_head(out, status, content_type, body.size(), keep_alive, extra, version_minor);
  out.append(body);
}

void append_error_response(std::string& out, int status, std::string_view code,
                           std::string_view message, bool keep_alive,
                           std::span<const HttpHeader> extra, int version_minor) {
  WEASEL_ASSERT(status >= 400 && status <= 599);
  constexpr std::string_view kOpen = "{\"error\":";
  constexpr std::string_view kMessage = ",\"message\":";
  const size_t body_size =
      kOpen.size() + json_string_size(code) + kMessage.size() + json_string_size(message) + 1;
  append_response_head(out, status, "application/json", body_size, keep_alive, extra,
                       version_minor);
  const size_t body_start = out.size();
  out.append(kOpen);
  append_json_string(out, code);
  out.append(kMessage);
  append_json_string(out, message);
  out.push_back('}');
  WEASEL_ASSERT(out.size() - body_start == body_size);
}

void append_continue(std::string& out) {
  out.append("HTTP/1.1 100 Continue\r\n\r\n");
}

void append_chunked_head(std::string& out, int status, std::string_view content_type,
                         std::span<const HttpHeader> extra, bool keep_alive) {
  WEASEL_ASSERT(status != 204 && status != 304);
  append_common_head(out, status, content_type, extra);
  out.append("Transfer-Encoding: chunked\r\n");
  append_connection(out, keep_alive, /*version_minor=*/1);
  out.append("\r\n");
}

bool append_stream_head(std::string& out, int status, std::string_view content_type,
                        std::span<const HttpHeader> extra, int version_minor) {
  const bool chunked = version_minor >= 1;
  append_common_head(out, status, content_type, extra);
  if (chunked) out.append("Transfer-Encoding: chunked\r\n");
  append_connection(out, /*keep_alive=*/false, version_minor);
  out.append("\r\n");
  return chunked;
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  char digits[2 * sizeof(size_t)];
  const auto result = std::to_chars(digits, digits + sizeof(digits), data.size(), 16);
  WEASEL_ASSERT(result.ec == std::errc());
  out.append(digits, static_cast<size_t>(result.ptr - digits));
  out.append("\r\n");
  out.append(data);
  out.append("\r\n");
}

void append_last_chunk(std::string& out) {
  out.append("0\r\n\r\n");
}

}  // namespace weasel
