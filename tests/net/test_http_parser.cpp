// Unit tests of HttpRequestParser: every feature and error of the contract, each request also
// fed in small pieces (down to one byte) with the buffer moved before every call, and checked
// to give exactly the same result as when fed whole.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <ostream>
#include <string>
#include <vector>

#include "net/http_parser.hpp"

// Counts heap allocations so that a test can prove steady-state parsing allocates nothing.
namespace {
std::atomic<size_t> g_allocations{0};

void* counted_malloc(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
}  // namespace

void* operator new(size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  return counted_malloc(n);
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  return counted_malloc(n);
}
// GCC flags free() on memory from operator new, but here operator new is malloc by design.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace weasel {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// Everything observable about one parse, copied out of the parser's views.
struct Snapshot {
  HttpParseStatus status = HttpParseStatus::kNeedMore;
  int error_status = 0;
  std::string error_code;
  bool headers_complete = false;
  HttpMethod method = HttpMethod::kOther;
  std::string method_name, target, path, query, body;
  int version_minor = -1;
  bool keep_alive = false;
  bool expect_continue = false;
  Fields headers, trailers, folded;
  size_t consumed = 0;
  bool operator==(const Snapshot&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Snapshot& s) {
  os << "{status=" << static_cast<int>(s.status) << " error=" << s.error_status << "/"
     << s.error_code << " " << s.method_name << " " << s.target << " path=" << s.path
     << " query=" << s.query << " v1." << s.version_minor << " ka=" << s.keep_alive
     << " ec=" << s.expect_continue << " body=" << s.body.size() << "B consumed=" << s.consumed;
  for (const auto& [n, v] : s.headers) os << " [" << n << ": " << v << "]";
  for (const auto& [n, v] : s.trailers) os << " T[" << n << ": " << v << "]";
  return os << "}";
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  return out;
}

Snapshot snapshot(const HttpRequestParser& parser, HttpParseStatus status) {
  Snapshot s;
  s.status = status;
  s.headers_complete = parser.headers_complete();
  if (status == HttpParseStatus::kError) {
    s.error_status = parser.error().status;
    s.error_code = std::string(parser.error().code);
    return s;
  }
  if (!parser.headers_complete()) return s;
  const HttpRequest& r = parser.request();
  s.method = r.method;
  s.method_name = r.method_name;
  s.target = r.target;
  s.path = r.path;
  s.query = r.query;
  s.version_minor = r.version_minor;
  s.keep_alive = r.keep_alive;
  s.expect_continue = r.expect_continue;
  for (const HttpHeader& h : r.headers()) {
    s.headers.emplace_back(h.name, h.value);
    // header() of every name, so that folded values are compared across buffer moves too.
    s.folded.emplace_back(lower(h.name), std::string(r.header(h.name).value()));
  }
  for (const HttpHeader& h : r.trailers()) s.trailers.emplace_back(h.name, h.value);
  if (status == HttpParseStatus::kComplete) {
    s.body = r.body;
    s.consumed = parser.consumed();
  }
  return s;
}

// A connection buffer that really moves: every append copies into a fresh heap block while
// the old one is still alive (so the address differs), then poisons and frees the old block,
// so a stale view would read garbage (and ASan would report it).
class MovingBuffer {
 public:
  void append(std::string_view bytes) {
    std::vector<char> next(data_.size() + bytes.size() + 1);
    std::copy(data_.begin(), data_.end(), next.begin());
    std::copy(bytes.begin(), bytes.end(), next.begin() + static_cast<long>(data_.size()));
    next.pop_back();
    std::fill(data_.begin(), data_.end(), 'X');
    data_.swap(next);
  }
  void erase_front(size_t n) {
    std::vector<char> next(data_.begin() + static_cast<long>(n), data_.end());
    std::fill(data_.begin(), data_.end(), 'X');
    data_.swap(next);
  }
  char* data() { return data_.data(); }
  size_t size() const { return data_.size(); }

 private:
  std::vector<char> data_;
};

Snapshot parse_in_steps(std::string_view input, size_t step, const HttpLimits& limits) {
  HttpRequestParser parser(limits);
  MovingBuffer buf;
  HttpParseStatus status = HttpParseStatus::kNeedMore;
  for (size_t offset = 0; offset < input.size() && status == HttpParseStatus::kNeedMore;) {
    const size_t n = std::min(step, input.size() - offset);
    buf.append(input.substr(offset, n));
    offset += n;
    status = parser.parse(buf.data(), buf.size());
  }
  return snapshot(parser, status);
}

Snapshot parse_whole(std::string_view input, const HttpLimits& limits) {
  HttpRequestParser parser(limits);
  std::string buf(input);
  return snapshot(parser, parser.parse(buf.data(), buf.size()));
}

// Parses `input` whole and in pieces of several sizes, and checks that every way agrees.
Snapshot parse_all_ways(std::string_view input, const HttpLimits& limits = {}) {
  const Snapshot whole = parse_whole(input, limits);
  for (size_t step : {1, 2, 3, 7, 64}) {
    CAPTURE(step);
    CHECK(parse_in_steps(input, step, limits) == whole);
  }
  return whole;
}

void check_error(std::string_view input, int status, std::string_view code,
                 const HttpLimits& limits = {}) {
  CAPTURE(input);
  const Snapshot s = parse_all_ways(input, limits);
  CHECK(s.status == HttpParseStatus::kError);
  CHECK(s.error_status == status);
  CHECK(s.error_code == code);
}

// Feeds a prefix of a request (all of it, then byte by byte) and expects the error at once.
void check_early_error(std::string_view prefix, int status, const HttpLimits& limits) {
  CAPTURE(prefix);
  for (size_t step : {prefix.size(), size_t{1}}) {
    const Snapshot s = parse_in_steps(prefix, step, limits);
    CHECK(s.status == HttpParseStatus::kError);
    CHECK(s.error_status == status);
  }
}

}  // namespace

TEST_CASE("simple GET with headers, query and keep-alive") {
  const Snapshot s = parse_all_ways(
      "GET /v1/read?key=a2V5&version=3 HTTP/1.1\r\nHost: localhost:8080\r\n"
      "User-Agent:   curl/7.88  \r\nAccept:*/*\r\n\r\n");
  REQUIRE(s.status == HttpParseStatus::kComplete);
  CHECK(s.method == HttpMethod::kGet);
  CHECK(s.method_name == "GET");
  CHECK(s.target == "/v1/read?key=a2V5&version=3");
  CHECK(s.path == "/v1/read");
  CHECK(s.query == "key=a2V5&version=3");
  CHECK(s.version_minor == 1);
  CHECK(s.keep_alive);
  CHECK_FALSE(s.expect_continue);
  CHECK(s.body.empty());
  CHECK(s.headers ==
        Fields{{"Host", "localhost:8080"}, {"User-Agent", "curl/7.88"}, {"Accept", "*/*"}});
  CHECK(s.consumed == 105);
}

TEST_CASE("header lookup is case-insensitive and absent names are nullopt") {
  HttpRequestParser parser({});
  std::string buf = "GET / HTTP/1.1\r\nX-Token: abc\r\nEmpty:\r\n\r\n";
  REQUIRE(parser.parse(buf.data(), buf.size()) == HttpParseStatus::kComplete);
  const HttpRequest& r = parser.request();
  CHECK(r.header("x-token") == "abc");
  CHECK(r.header("X-TOKEN") == "abc");
  CHECK(r.header("Empty") == "");
  CHECK_FALSE(r.header("X-Toke").has_value());
  CHECK_FALSE(r.header("Host").has_value());
}

TEST_CASE("methods map to HttpMethod, other tokens are kOther") {
  const std::pair<const char*, HttpMethod> cases[] = {
      {"GET", HttpMethod::kGet},        {"HEAD", HttpMethod::kHead},
      {"POST", HttpMethod::kPost},      {"PUT", HttpMethod::kPut},
      {"DELETE", HttpMethod::kDelete},  {"OPTIONS", HttpMethod::kOptions},
      {"PATCH", HttpMethod::kPatch},    {"PROPFIND", HttpMethod::kOther},
      {"M-SEARCH", HttpMethod::kOther}, {"get", HttpMethod::kOther},
  };
  for (const auto& entry : cases) {
    const char* name = entry.first;
    const HttpMethod method = entry.second;
    CAPTURE(name);
    const bool needs_length =
        method == HttpMethod::kPost || method == HttpMethod::kPut || method == HttpMethod::kPatch;
    const std::string req = std::string(name) + " /x HTTP/1.1\r\n" +
                            (needs_length ? "Content-Length: 0\r\n" : "") + "\r\n";
    const Snapshot s = parse_all_ways(req);
    REQUIRE(s.status == HttpParseStatus::kComplete);
    CHECK(s.method == method);
    CHECK(s.method_name == name);
  }
}

TEST_CASE("request-target forms") {
  SUBCASE("query edge cases") {
    Snapshot s = parse_all_ways("GET /a? HTTP/1.1\r\n\r\n");
    CHECK(s.path == "/a");
    CHECK(s.query == "");
    s = parse_all_ways("GET /a?b?c=/d HTTP/1.1\r\n\r\n");
    CHECK(s.path == "/a");
    CHECK(s.query == "b?c=/d");
    s = parse_all_ways("GET /%7Euser/{x}|\"y\" HTTP/1.1\r\n\r\n");
    CHECK(s.path == "/%7Euser/{x}|\"y\"");  // not decoded
  }
  SUBCASE("asterisk-form only for OPTIONS") {
    const Snapshot s = parse_all_ways("OPTIONS * HTTP/1.1\r\n\r\n");
    REQUIRE(s.status == HttpParseStatus::kComplete);
    CHECK(s.path == "*");
    CHECK(s.query == "");
    check_error("GET * HTTP/1.1\r\n\r\n", 400, "bad_request");
  }
  SUBCASE("absolute-form") {
    Snapshot s = parse_all_ways("GET http://db.example:8080/v1/version?x=1 HTTP/1.1\r\n\r\n");
    REQUIRE(s.status == HttpParseStatus::kComplete);
    CHECK(s.target == "http://db.example:8080/v1/version?x=1");
    CHECK(s.path == "/v1/version");
    CHECK(s.query == "x=1");
    s = parse_all_ways("GET HTTPS://db.example?x HTTP/1.1\r\n\r\n");
    REQUIRE(s.status == HttpParseStatus::kComplete);
    CHECK(s.path == "/");  // RFC 9112 3.2.2: an empty path means "/"
    CHECK(s.query == "x");
    check_error("GET ftp://host/x HTTP/1.1\r\n\r\n", 400, "bad_request");
    check_error("GET http:///x HTTP/1.1\r\n\r\n", 400, "bad_request");
    check_error("CONNECT host:443 HTTP/1.1\r\n\r\n", 400, "bad_request");
  }
}

TEST_CASE("request line errors") {
  check_error("GET /a\x01 HTTP/1.1\r\n\r\n", 400, "bad_request");
  check_error("GET /a\x7f HTTP/1.1\r\n\r\n", 400, "bad_request");
  check_error("GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400, "bad_request");
  check_error("GET /a#frag HTTP/1.1\r\n\r\n", 400, "bad_request");
  check_error("GET /a\tb HTTP/1.1\r\n\r\n", 400, "bad_request");
  check_error("GET  / HTTP/1.1\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/1.1 \r\n\r\n", 400, "bad_request");
  check_error(" GET / HTTP/1.1\r\n\r\n", 400, "bad_request");
  check_error("GET /\r\n\r\n", 400, "bad_request");
  check_error("GET / http/1.1\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/1\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/1.10\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/1.1\rX\r\n\r\n", 400, "bad_request");
  check_error("G(T / HTTP/1.1\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/2.0\r\n\r\n", 505, "http_version_not_supported");
  check_error("GET / HTTP/0.9\r\n\r\n", 505, "http_version_not_supported");
  check_error(std::string(HttpRequestParser::kMaxMethodBytes + 1, 'A') + " / HTTP/1.1\r\n\r\n", 400,
              "bad_request");
  check_error("\r\r\nGET / HTTP/1.1\r\n\r\n", 400, "bad_request");
  check_error(std::string(HttpRequestParser::kMaxLeadingEmptyLineBytes + 2, '\n') +
                  "GET / HTTP/1.1\r\n\r\n",
              400, "bad_request");
}

TEST_CASE("versions, bare LF line ends and leading empty lines") {
  Snapshot s = parse_all_ways("GET / HTTP/1.2\r\n\r\n");
  CHECK(s.version_minor == 1);  // a later 1.x is handled as 1.1 (RFC 9110 2.5)
  s = parse_all_ways("GET / HTTP/1.1\nHost: a\n\n");
  REQUIRE(s.status == HttpParseStatus::kComplete);
  CHECK(s.headers == Fields{{"Host", "a"}});
  s = parse_all_ways("\r\n\nGET / HTTP/1.1\r\n\r\n");
  REQUIRE(s.status == HttpParseStatus::kComplete);
  CHECK(s.consumed == 21);  // the skipped empty lines belong to this request
}

TEST_CASE("header field syntax") {
  const Snapshot s =
      parse_all_ways("GET / HTTP/1.1\r\nA: \t x y \t\r\nB:\r\nC:  \r\nD: caf\xc3\xa9\r\n\r\n");
  REQUIRE(s.status == HttpParseStatus::kComplete);
  CHECK(s.headers == Fields{{"A", "x y"}, {"B", ""}, {"C", ""}, {"D", "caf\xc3\xa9"}});
  check_error("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400, "bad_request");   // obs-fold
  check_error("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", 400, "bad_request");  // obs-fold
  check_error("GET / HTTP/1.1\r\n A: b\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/1.1\r\nA : b\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/1.1\r\n: b\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/1.1\r\nA\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/1.1\r\nA(b): c\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400, "bad_request");
  check_error(std::string_view("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 26), 400, "bad_request");
  check_error("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/1.1\r\nA: b\r\r\n\r\n", 400, "bad_request");
  check_error("GET / HTTP/1.1\r\n\r\r\n", 400, "bad_request");
}

TEST_CASE("duplicate headers fold per RFC 9110, raw order is kept") {
  const Snapshot s = parse_all_ways(
      "GET / HTTP/1.1\r\nAccept: a\r\nX: 1\r\naccept: b\r\nACCEPT:\r\nAccept: c, d\r\n\r\n");
  REQUIRE(s.status == HttpParseStatus::kComplete);
  CHECK(s.headers ==
        Fields{{"Accept", "a"}, {"X", "1"}, {"accept", "b"}, {"ACCEPT", ""}, {"Accept", "c, d"}});
  CHECK(s.folded == Fields{{"accept", "a, b, c, d"},
                           {"x", "1"},
                           {"accept", "a, b, c, d"},
                           {"accept", "a, b, c, d"},
                           {"accept", "a, b, c, d"}});
}

TEST_CASE("Content-Length bodies") {
  Snapshot s = parse_all_ways("POST /v1/commit HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET");
  REQUIRE(s.status == HttpParseStatus::kComplete);
  CHECK(s.body == "hello");
  CHECK(s.consumed == 52);
  s = parse_all_ways("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  CHECK(s.status == HttpParseStatus::kComplete);
  CHECK(s.body.empty());
  s = parse_all_ways("PUT / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 003\r\n\r\nabc");
  CHECK(s.status == HttpParseStatus::kComplete);  // duplicates that agree are fine
  CHECK(s.body == "abc");
  s = parse_all_ways("PUT / HTTP/1.1\r\nContent-Length:\t 3 \t\r\n\r\nabc");
  CHECK(s.body == "abc");  // OWS around the value is not part of it
  s = parse_all_ways("GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab");
  CHECK(s.body == "ab");
  s = parse_all_ways("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab");
  CHECK(s.status == HttpParseStatus::kNeedMore);
  CHECK(s.headers_complete);
  for (const char* bad : {"+5", "-1", "5a", "0x5", "5 5", "5,5", "", "1.0"}) {
    CAPTURE(bad);
    check_error("POST / HTTP/1.1\r\nContent-Length: " + std::string(bad) + "\r\n\r\n", 400,
                "bad_request");
  }
  check_error("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400,
              "bad_request");
  check_error("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413,
              "content_too_large");
}

TEST_CASE("413 for a large Content-Length as soon as the headers are complete") {
  HttpLimits limits;
  limits.max_body_bytes = 10;
  check_early_error("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413, limits);
  const Snapshot s =
      parse_all_ways("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", limits);
  CHECK(s.status == HttpParseStatus::kComplete);
  CHECK(s.body == "0123456789");
}

TEST_CASE("411 when a body method has no framing") {
  check_error("POST / HTTP/1.1\r\n\r\n", 411, "length_required");
  check_error("PUT / HTTP/1.1\r\n\r\n", 411, "length_required");
  check_error("PATCH / HTTP/1.0\r\n\r\n", 411, "length_required");
  CHECK(parse_all_ways("DELETE /v1/retention/x HTTP/1.1\r\n\r\n").status ==
        HttpParseStatus::kComplete);
  CHECK(parse_all_ways("GET / HTTP/1.0\r\n\r\n").status == HttpParseStatus::kComplete);
}

TEST_CASE("chunked bodies, extensions and trailers") {
  SUBCASE("decoded in place, contiguous") {
    const std::string req =
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n1;ext\r\n \r\nA ; name=value;q=\"a b\"\r\n0123456789\r\n"
        "000\r\n\r\n";
    const Snapshot s = parse_all_ways(req + "NEXT");
    REQUIRE(s.status == HttpParseStatus::kComplete);
    CHECK(s.body == "hello 0123456789");
    CHECK(s.trailers.empty());
    CHECK(s.consumed == req.size());
  }
  SUBCASE("trailers are parsed and kept apart from headers") {
    const Snapshot s = parse_all_ways(
        "POST / HTTP/1.1\r\ntransfer-encoding: Chunked\r\nX: 1\r\n\r\n"
        "3\r\nabc\r\n0\r\nChecksum: 42\r\nX:  2 \r\n\r\n");
    REQUIRE(s.status == HttpParseStatus::kComplete);
    CHECK(s.body == "abc");
    CHECK(s.headers == Fields{{"transfer-encoding", "Chunked"}, {"X", "1"}});
    CHECK(s.trailers == Fields{{"Checksum", "42"}, {"X", "2"}});
    CHECK(s.folded[1] == std::pair<std::string, std::string>{"x", "1"});
  }
  SUBCASE("bare LF framing and hex digits of both cases") {
    const Snapshot s = parse_all_ways(
        "POST / HTTP/1.1\nTransfer-Encoding: chunked\n\n"
        "a\n0123456789\nB\nabcdefghijk\n0\n\n");
    REQUIRE(s.status == HttpParseStatus::kComplete);
    CHECK(s.body == "0123456789abcdefghijk");
  }
  SUBCASE("framing errors") {
    const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    check_error(head + "g\r\n", 400, "bad_request");
    check_error(head + "\r\n", 400, "bad_request");
    check_error(head + "-1\r\n", 400, "bad_request");
    check_error(head + "5 x\r\nhello\r\n0\r\n\r\n", 400, "bad_request");
    check_error(head + "5;a\x01\r\nhello\r\n0\r\n\r\n", 400, "bad_request");
    check_error(head + "5\r\nhelloX0\r\n\r\n", 400, "bad_request");
    check_error(head + "5\r\nhello\rX0\r\n\r\n", 400, "bad_request");
    check_error(head + "5;" + std::string(HttpRequestParser::kMaxChunkLineBytes, 'e') + "\r\n", 400,
                "bad_request");
    check_error(head + "0\r\nA: b\r\n c\r\n\r\n", 400, "bad_request");
    check_error(head + "0\r\nBad Trailer: b\r\n\r\n", 400, "bad_request");
    check_error(head + "fffffffffffffffffff\r\n", 413, "content_too_large");
  }
}

TEST_CASE("chunked body limits apply as soon as exceeded") {
  HttpLimits limits;
  limits.max_body_bytes = 10;
  limits.max_header_bytes = 64;
  limits.max_headers = 2;
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  // The size line alone is enough: no data byte of the chunk is needed.
  check_early_error(head + "b\r\n", 413, limits);
  check_early_error(head + "6\r\nabcdef\r\n5\r\n", 413, limits);
  const Snapshot ok = parse_all_ways(head + "6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n", limits);
  CHECK(ok.status == HttpParseStatus::kComplete);
  CHECK(ok.body == "abcdefghij");
  // Trailers are bounded like the header block: in bytes and in field count.
  check_early_error(head + "0\r\nT: " + std::string(70, 'x'), 431, limits);
  check_error(head + "0\r\nA: 1\r\nB: 2\r\n\r\n", 431, "header_too_large", limits);
  CHECK(parse_all_ways(head + "0\r\nA: 1\r\nB: 2\r\n\r\n", HttpLimits{}).trailers.size() == 2);
  // Framing overhead: many empty-extension chunks of one byte each.
  std::string tiny = head;
  for (int i = 0; i < 10; ++i) tiny += "1;" + std::string(500, 'e') + "\r\nx\r\n";
  check_error(tiny, 413, "content_too_large", limits);
}

TEST_CASE("Transfer-Encoding rules") {
  check_error("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented");
  check_error("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
              "not_implemented");
  check_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501,
              "not_implemented");
  check_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400, "bad_request");
  check_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
              400, "bad_request");
  check_error("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 400, "bad_request");
  // Smuggling: both framings, in either order, even when TE is unsupported.
  check_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400,
              "bad_request");
  check_error("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
              "bad_request");
  check_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "bad_request");
  const Snapshot s =
      parse_all_ways("POST / HTTP/1.1\r\nTransfer-Encoding: ,chunked \t\r\n\r\n0\r\n\r\n");
  CHECK(s.status == HttpParseStatus::kComplete);  // empty list elements are ignored
}

TEST_CASE("keep-alive from version and Connection") {
  struct Case {
    const char* version;
    const char* connection;
    bool keep_alive;
  };
  const Case cases[] = {
      {"1.1", nullptr, true},           {"1.1", "close", false},
      {"1.1", "Keep-Alive", true},      {"1.1", "CLOSE", false},
      {"1.1", "upgrade, close", false}, {"1.1", "keep-alive, close", false},
      {"1.1", "closed", true},          {"1.0", nullptr, false},
      {"1.0", "keep-alive", true},      {"1.0", "foo ,  KEEP-ALIVE", true},
      {"1.0", "close", false},          {"1.0", "keep-alive, close", false},
      {"1.1", "foo, close \t", false},  {"1.0", "keep-alive\t ", true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.version);
    CAPTURE(c.connection);
    std::string req = std::string("GET / HTTP/") + c.version + "\r\n";
    if (c.connection != nullptr) req += std::string("Connection: ") + c.connection + "\r\n";
    const Snapshot s = parse_all_ways(req + "\r\n");
    REQUIRE(s.status == HttpParseStatus::kComplete);
    CHECK(s.keep_alive == c.keep_alive);
  }
  // Two Connection headers count together.
  CHECK_FALSE(parse_all_ways("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close"
                             "\r\n\r\n")
                  .keep_alive);
}

TEST_CASE("Expect: 100-continue is visible before the body arrives") {
  HttpRequestParser parser({});
  MovingBuffer buf;
  buf.append("POST /v1/commit HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n");
  REQUIRE(parser.parse(buf.data(), buf.size()) == HttpParseStatus::kNeedMore);
  REQUIRE(parser.headers_complete());
  CHECK(parser.request().expect_continue);
  CHECK(parser.request().path == "/v1/commit");
  CHECK(parser.request().body.empty());
  buf.append("ab");
  REQUIRE(parser.parse(buf.data(), buf.size()) == HttpParseStatus::kNeedMore);
  CHECK(parser.request().header("content-length") == "4");  // views follow the moved buffer
  buf.append("cd");
  REQUIRE(parser.parse(buf.data(), buf.size()) == HttpParseStatus::kComplete);
  CHECK(parser.request().body == "abcd");
  // HTTP/1.0 clients do not know 100 Continue (RFC 9110 10.1.1).
  CHECK_FALSE(parse_all_ways("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
  CHECK_FALSE(parse_all_ways("GET / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n").expect_continue);
}

TEST_CASE("URI limit: 414 as soon as the target is too long") {
  HttpLimits limits;
  limits.max_uri_bytes = 32;
  const std::string at_limit = "/" + std::string(31, 'a');
  CHECK(parse_all_ways("GET " + at_limit + " HTTP/1.1\r\n\r\n", limits).status ==
        HttpParseStatus::kComplete);
  check_error("GET " + at_limit + "b HTTP/1.1\r\n\r\n", 414, "uri_too_long", limits);
  check_early_error("GET " + at_limit + "b", 414, limits);  // no line end needed
}

TEST_CASE("header block limit: 431 as soon as exceeded") {
  HttpLimits limits;
  limits.max_header_bytes = 40;
  const std::string line = "GET / HTTP/1.1\r\n";
  // 38 bytes of field line + the blank line = exactly 40.
  const std::string field = "X: " + std::string(33, 'v') + "\r\n";
  CHECK(parse_all_ways(line + field + "\r\n", limits).status == HttpParseStatus::kComplete);
  check_error(line + "Y" + field + "\r\n", 431, "header_too_large", limits);
  check_early_error(line + "X: " + std::string(40, 'v'), 431, limits);  // no line end needed
}

TEST_CASE("header count limit") {
  HttpLimits limits;
  limits.max_headers = 4;
  std::string req = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 4; ++i) req += "H" + std::to_string(i) + ": v\r\n";
  CHECK(parse_all_ways(req + "\r\n", limits).headers.size() == 4);
  check_error(req + "H4: v\r\n\r\n", 431, "header_too_large", limits);
}

TEST_CASE("pipelined requests, fed whole and one byte at a time") {
  const std::string pipeline =
      "GET /v1/version HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /v1/commit HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
      "PUT /v1/retention/p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nab\r\n1\r\nc\r\n0\r\nT: t\r\n\r\n"
      "\r\nGET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
      "DELETE /v1/retention/p HTTP/1.1\r\nConnection: close\r\n\r\n";
  struct Expected {
    const char* target;
    const char* body;
    bool keep_alive;
  };
  const std::vector<Expected> expected = {{"/v1/version", "", true},
                                          {"/v1/commit", "{}", true},
                                          {"/v1/retention/p", "abc", true},
                                          {"/health", "", true},
                                          {"/v1/retention/p", "", false}};
  for (size_t step : {pipeline.size(), size_t{1}, size_t{5}}) {
    CAPTURE(step);
    HttpRequestParser parser({});
    MovingBuffer buf;
    size_t fed = 0;
    size_t index = 0;
    while (index < expected.size()) {
      const HttpParseStatus status = parser.parse(buf.data(), buf.size());
      REQUIRE(status != HttpParseStatus::kError);
      if (status == HttpParseStatus::kNeedMore) {
        REQUIRE(fed < pipeline.size());
        const size_t n = std::min(step, pipeline.size() - fed);
        buf.append(std::string_view(pipeline).substr(fed, n));
        fed += n;
        continue;
      }
      const HttpRequest& r = parser.request();
      CHECK(r.target == expected[index].target);
      CHECK(r.body == expected[index].body);
      CHECK(r.keep_alive == expected[index].keep_alive);
      REQUIRE(parser.consumed() <= buf.size());
      buf.erase_front(parser.consumed());
      parser.reset();
      ++index;
    }
    CHECK(buf.size() == 0);
    CHECK(fed == pipeline.size());
  }
}

TEST_CASE("final states are sticky until reset") {
  HttpRequestParser parser({});
  std::string buf = "GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
  REQUIRE(parser.parse(buf.data(), buf.size()) == HttpParseStatus::kComplete);
  CHECK(parser.parse(buf.data(), buf.size()) == HttpParseStatus::kComplete);
  CHECK(parser.consumed() == 18);
  parser.reset();
  CHECK_FALSE(parser.headers_complete());
  std::string bad = "GET / HTTP/9.9\r\n\r\n";
  REQUIRE(parser.parse(bad.data(), bad.size()) == HttpParseStatus::kError);
  CHECK(parser.parse(bad.data(), bad.size()) == HttpParseStatus::kError);
  CHECK(parser.error().status == 505);
  CHECK_FALSE(parser.error().message.empty());
  parser.reset();
  REQUIRE(parser.parse(buf.data() + 18, buf.size() - 18) == HttpParseStatus::kComplete);
  CHECK(parser.request().target == "/b");
}

TEST_CASE("steady-state parsing does not allocate") {
  const std::string pipeline =
      "POST /v1/commit HTTP/1.1\r\nHost: h\r\nAccept: a\r\naccept: b\r\nContent-Length: 3\r\n"
      "\r\nabc"
      "PUT /x?y=z HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX: 1\r\nX: 2\r\n\r\n"
      "3;e=f\r\nabc\r\n0\r\nT1: a\r\nT2: b\r\n\r\n"
      "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  HttpRequestParser parser({});
  std::string buf;
  buf.reserve(pipeline.size());
  size_t allocations_after_warmup = 0;
  for (int round = 0; round < 3; ++round) {
    buf.assign(pipeline);  // chunked decoding rewrote the bytes: start from the original
    const size_t before = g_allocations.load(std::memory_order_relaxed);
    size_t offset = 0;
    size_t requests = 0;
    bool folded_ok = false;
    while (offset < buf.size()) {
      REQUIRE(parser.parse(buf.data() + offset, buf.size() - offset) == HttpParseStatus::kComplete);
      if (requests == 0) folded_ok = parser.request().header("ACCEPT") == "a, b";
      offset += parser.consumed();
      parser.reset();
      ++requests;
    }
    const size_t allocations = g_allocations.load(std::memory_order_relaxed) - before;
    REQUIRE(requests == 3);
    CHECK(folded_ok);
    if (round > 0) allocations_after_warmup += allocations;
  }
  CHECK(allocations_after_warmup == 0);
}

}  // namespace weasel
