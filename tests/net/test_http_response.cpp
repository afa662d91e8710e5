// Tests of the response writer and of JSON string escaping. Responses are checked by a real
// peer, Debian's libhttp-parser (as an HTTP client would read them), and JSON bodies by
// simdjson (which also validates UTF-8).

#include <doctest/doctest.h>
#include <http_parser.h>
#include <simdjson.h>

#include <array>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/json_escape.hpp"
#include "net/http_response.hpp"

namespace weasel {
namespace {

// One response as libhttp-parser reads it.
struct ParsedResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keep_alive = false;
  bool chunked = false;
  int complete = 0;
  bool last_was_value = true;
};

std::optional<std::string> find_header(const ParsedResponse& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return std::nullopt;
}

// Parses exactly one response; FAILs if the bytes are not one complete, valid response.
ParsedResponse parse_response(const std::string& wire, bool response_to_head = false) {
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_header_field = [](http_parser* p, const char* at, size_t n) {
    auto* r = static_cast<ParsedResponse*>(p->data);
    if (r->last_was_value) r->headers.emplace_back();
    r->headers.back().first.append(at, n);
    r->last_was_value = false;
    return 0;
  };
  settings.on_header_value = [](http_parser* p, const char* at, size_t n) {
    auto* r = static_cast<ParsedResponse*>(p->data);
    r->headers.back().second.append(at, n);
    r->last_was_value = true;
    return 0;
  };
  settings.on_headers_complete = [](http_parser* p) {
    auto* r = static_cast<ParsedResponse*>(p->data);
    r->status = static_cast<int>(p->status_code);
    r->chunked = (p->flags & F_CHUNKED) != 0;
    // Returning 1 tells the parser that no body follows (a response to HEAD).
    return r->complete == -1 ? 1 : 0;
  };
  settings.on_body = [](http_parser* p, const char* at, size_t n) {
    static_cast<ParsedResponse*>(p->data)->body.append(at, n);
    return 0;
  };
  settings.on_message_complete = [](http_parser* p) {
    auto* r = static_cast<ParsedResponse*>(p->data);
    r->keep_alive = http_should_keep_alive(p) != 0;
    r->complete = 1;
    return 0;
  };
  ParsedResponse result;
  if (response_to_head) result.complete = -1;
  http_parser parser;
  http_parser_init(&parser, HTTP_RESPONSE);
  parser.data = &result;
  const size_t n = http_parser_execute(&parser, &settings, wire.data(), wire.size());
  CHECK(HTTP_PARSER_ERRNO(&parser) == HPE_OK);
  CHECK(n == wire.size());
  CHECK(result.complete == 1);
  return result;
}

std::string reference_http_date(int64_t t) {
  const time_t tt = static_cast<time_t>(t);
  tm parts{};
  gmtime_r(&tt, &parts);
  char text[64];
  const size_t n = strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &parts);
  return std::string(text, n);
}

std::string json_of(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  CHECK(out.size() == json_string_size(s));
  return out;
}

// Decodes a JSON string literal with simdjson; FAILs when it is not valid JSON.
std::string decode_json_string(const std::string& literal) {
  simdjson::dom::parser parser;
  const std::string doc = "{\"s\":" + literal + "}";
  std::string_view value;
  const auto error = parser.parse(doc)["s"].get(value);
  CHECK_MESSAGE(error == simdjson::SUCCESS, literal);
  return std::string(value);
}

}  // namespace

TEST_CASE("reason phrases") {
  CHECK(http_reason_phrase(200) == "OK");
  CHECK(http_reason_phrase(405) == "Method Not Allowed");
  CHECK(http_reason_phrase(413) == "Content Too Large");
  CHECK(http_reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(http_reason_phrase(503) == "Service Unavailable");
  CHECK(http_reason_phrase(599) == "Unknown");
}

TEST_CASE("IMF-fixdate formatting matches gmtime/strftime") {
  std::array<char, kHttpDateSize> text{};
  const auto view = [&text] { return std::string(text.data(), text.size()); };
  format_http_date(784111777, text);
  CHECK(view() == "Sun, 06 Nov 1994 08:49:37 GMT");  // the example of RFC 9110
  format_http_date(0, text);
  CHECK(view() == "Thu, 01 Jan 1970 00:00:00 GMT");
  format_http_date(951782400, text);
  CHECK(view() == "Tue, 29 Feb 2000 00:00:00 GMT");
  format_http_date(253402300799, text);
  CHECK(view() == "Fri, 31 Dec 9999 23:59:59 GMT");
  std::mt19937_64 rng(20261121);
  std::uniform_int_distribution<int64_t> when(0, 253402300799);
  for (int i = 0; i < 20000; ++i) {
    const int64_t t = when(rng);
    format_http_date(t, text);
    REQUIRE(view() == reference_http_date(t));
  }
}

TEST_CASE("the cached Date is the current second") {
  const int64_t before = static_cast<int64_t>(std::time(nullptr));
  const std::string now(http_date_now());
  const int64_t after = static_cast<int64_t>(std::time(nullptr));
  bool matches = false;
  for (int64_t t = before; t <= after; ++t) matches |= now == reference_http_date(t);
  CHECK(matches);
}

TEST_CASE("append_response: status line, headers and body") {
  std::string out = "previous bytes";
  const HttpHeader extra[] = {{"Allow", "GET, HEAD"}, {"Retry-After", "1"}};
  append_response(out, 405, "application/json", "{\"a\":1}", true, extra);
  REQUIRE(out.starts_with("previous bytes"));
  const std::string wire = out.substr(14);
  CHECK(wire.starts_with("HTTP/1.1 405 Method Not Allowed\r\nDate: "));
  CHECK(wire.ends_with("\r\n\r\n{\"a\":1}"));
  const ParsedResponse r = parse_response(wire);
  CHECK(r.status == 405);
  CHECK(r.body == "{\"a\":1}");
  CHECK(r.keep_alive);
  CHECK(find_header(r, "Content-Type") == "application/json");
  CHECK(find_header(r, "Content-Length") == "7");
  CHECK(find_header(r, "Allow") == "GET, HEAD");
  CHECK(find_header(r, "Retry-After") == "1");
  CHECK(find_header(r, "Date")->size() == kHttpDateSize);
  CHECK_FALSE(find_header(r, "Connection").has_value());  // HTTP/1.1 default
}

TEST_CASE("Connection header by keep-alive and client version") {
  struct Case {
    bool keep_alive;
    int version_minor;
    std::optional<std::string> connection;
  };
  const Case cases[] = {
      {true, 1, std::nullopt}, {false, 1, "close"}, {true, 0, "keep-alive"}, {false, 0, "close"}};
  for (const Case& c : cases) {
    CAPTURE(c.keep_alive);
    CAPTURE(c.version_minor);
    std::string out;
    append_response(out, 200, "text/plain", "ok", c.keep_alive, {}, c.version_minor);
    const ParsedResponse r = parse_response(out);
    CHECK(find_header(r, "Connection") == c.connection);
    CHECK(r.keep_alive == c.keep_alive);
  }
}

TEST_CASE("204 has no Content-Length; HEAD responses carry the length only") {
  std::string out;
  append_response(out, 204, "", "", true);
  ParsedResponse r = parse_response(out);
  CHECK(r.status == 204);
  CHECK_FALSE(find_header(r, "Content-Length").has_value());
  CHECK_FALSE(find_header(r, "Content-Type").has_value());
  out.clear();
  append_response_head(out, 200, "application/json", 1234, true);
  r = parse_response(out, /*response_to_head=*/true);
  CHECK(find_header(r, "Content-Length") == "1234");
  CHECK(r.body.empty());
}

TEST_CASE("append_error_response writes the SPEC JSON error body") {
  std::string out;
  const HttpHeader retry[] = {{"Retry-After", "2"}};
  append_error_response(out, 503, "overloaded", "pipeline full", false, retry);
  ParsedResponse r = parse_response(out);
  CHECK(r.status == 503);
  CHECK(r.body == "{\"error\":\"overloaded\",\"message\":\"pipeline full\"}");
  CHECK(find_header(r, "Content-Type") == "application/json");
  CHECK(find_header(r, "Retry-After") == "2");
  CHECK(find_header(r, "Connection") == "close");
  CHECK_FALSE(r.keep_alive);

  // A hostile message (quotes, backslashes, control bytes, broken UTF-8) stays valid JSON.
  const std::string message = "operations[3].key: \"x\\\"\r\n\t\x01\x7f \xff\xc3( caf\xc3\xa9";
  out.clear();
  append_error_response(out, 400, "bad_request", message, true);
  r = parse_response(out);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(r.body).get(doc) == simdjson::SUCCESS);
  std::string_view code;
  std::string_view text;
  REQUIRE(doc["error"].get(code) == simdjson::SUCCESS);
  REQUIRE(doc["message"].get(text) == simdjson::SUCCESS);
  CHECK(code == "bad_request");
  CHECK(text == "operations[3].key: \"x\\\"\r\n\t\x01\x7f \xef\xbf\xbd\xef\xbf\xbd( caf\xc3\xa9");
}

TEST_CASE("100 Continue") {
  std::string out;
  append_continue(out);
  CHECK(out == "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST_CASE("chunked responses decode to the concatenated chunks") {
  std::string out;
  const HttpHeader extra[] = {{"Cache-Control", "no-cache"}};
  append_chunked_head(out, 200, "text/event-stream", extra);
  std::string expected;
  for (size_t size : {1, 15, 16, 255, 256, 4097}) {
    const std::string chunk(size, static_cast<char>('a' + size % 26));
    append_chunk(out, chunk);
    expected += chunk;
  }
  append_chunk(out, "");  // must not end the body early
  CHECK(out.find("\r\nff\r\n") != std::string::npos);
  CHECK(out.find("1001\r\n") != std::string::npos);
  append_last_chunk(out);
  CHECK(out.ends_with("\r\n0\r\n\r\n"));
  const ParsedResponse r = parse_response(out);
  CHECK(r.status == 200);
  CHECK(r.chunked);
  CHECK(r.body == expected);
  CHECK(r.keep_alive);
  CHECK(find_header(r, "Content-Type") == "text/event-stream");
  CHECK(find_header(r, "Cache-Control") == "no-cache");
  CHECK_FALSE(find_header(r, "Content-Length").has_value());
}

TEST_CASE("JSON escaping: exact forms") {
  CHECK(json_of("") == "\"\"");
  CHECK(json_of("plain text") == "\"plain text\"");
  CHECK(json_of("\"\\/") == "\"\\\"\\\\/\"");
  CHECK(json_of("\b\f\n\r\t") == "\"\\b\\f\\n\\r\\t\"");
  CHECK(json_of(std::string_view("\x00\x01\x1f\x7f", 4)) == "\"\\u0000\\u0001\\u001f\\u007f\"");
  CHECK(json_of("\xe2\x82\xac \xf0\x9f\x98\x80 \xc3\xa9") ==
        "\"\xe2\x82\xac \xf0\x9f\x98\x80 \xc3\xa9\"");
  CHECK(json_of("\xc0\xaf") == "\"\\ufffd\\ufffd\"");                        // overlong
  CHECK(json_of("\xe0\x80\xaf") == "\"\\ufffd\\ufffd\\ufffd\"");             // overlong
  CHECK(json_of("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");             // surrogate
  CHECK(json_of("\xf4\x90\x80\x80") == "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // > U+10FFFF
  CHECK(json_of("\xe2\x82") == "\"\\ufffd\\ufffd\"");                        // truncated
  CHECK(json_of("a\x80z") == "\"a\\ufffdz\"");                               // stray continuation
  CHECK(json_of("\xf5\xff") == "\"\\ufffd\\ufffd\"");
  CHECK(json_of("\xed\x9f\xbf\xee\x80\x80") ==
        "\"\xed\x9f\xbf\xee\x80\x80\"");                         // around surrogates
  CHECK(json_of("\xf4\x8f\xbf\xbf") == "\"\xf4\x8f\xbf\xbf\"");  // U+10FFFF
}

TEST_CASE("JSON escaping: random bytes always give valid JSON that round-trips valid UTF-8") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> size_dist(0, 40);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  std::uniform_int_distribution<int> mode_dist(0, 2);
  const char* pieces[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\"", "\\", "\n", "a"};
  for (int i = 0; i < 20000; ++i) {
    std::string input;
    const int size = size_dist(rng);
    const int mode = mode_dist(rng);
    for (int k = 0; k < size; ++k) {
      if (mode == 0) {
        input.push_back(static_cast<char>(byte_dist(rng)));
      } else {
        input += pieces[static_cast<size_t>(byte_dist(rng)) % std::size(pieces)];
        if (mode == 2 && byte_dist(rng) < 20) input.pop_back();  // break a sequence
      }
    }
    const std::string literal = json_of(input);
    const std::string decoded = decode_json_string(literal);
    if (simdjson::validate_utf8(input.data(), input.size())) {
      REQUIRE(decoded == input);
    } else {
      REQUIRE(decoded.find("\xef\xbf\xbd") != std::string::npos);
    }
  }
}

TEST_CASE("responses are written concurrently from several threads") {
  constexpr int kThreads = 4;
  constexpr int kResponses = 2000;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &failures] {
      std::string out;
      for (int i = 0; i < kResponses; ++i) {
        out.clear();
        append_error_response(out, 404, "not_found", "no such route", true);
        const size_t date = out.find("\r\nDate: ");
        const bool ok = date != std::string::npos &&
                        out.compare(date + 8 + kHttpDateSize - 4, 4, " GMT") == 0 &&
                        out.ends_with("\"message\":\"no such route\"}");
        failures[static_cast<size_t>(t)] += ok ? 0 : 1;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int f : failures) CHECK(f == 0);
}

}  // namespace weasel
