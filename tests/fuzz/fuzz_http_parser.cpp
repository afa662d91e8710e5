// libFuzzer target for HttpRequestParser.
//
// Each input is a byte stream of (possibly pipelined) requests. It is parsed with the default
// limits and with tiny ones (so limit paths are reached), each time
// - whole, in one exactly-sized heap buffer, and
// - in pseudo-random pieces (seeded by the input), copying into a fresh exactly-sized buffer
//   before every call and poisoning the old one, like a connection whose buffer reallocates;
// and checks the contract's invariants after every call (consumed <= len, every view inside
// the buffer, limits respected, error statuses from the documented set) and that both ways of
// feeding give exactly the same requests and the same final verdict.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/assert.hpp"
#include "net/http_parser.hpp"

namespace weasel {
namespace {

constexpr int kMaxRequestsPerInput = 64;

// An exactly-sized heap buffer, so that ASan reports any read past `len`.
struct Buffer {
  std::unique_ptr<char[]> bytes;
  size_t size = 0;

  // A fresh block holding bytes [from, size) of this one followed by `more`; the old block is
  // poisoned so that a stale view reads garbage.
  Buffer moved(size_t from, std::string_view more) const {
    WEASEL_ASSERT(from <= size);
    Buffer next;
    next.size = size - from + more.size();
    next.bytes.reset(new char[next.size == 0 ? 1 : next.size]);
    if (size > from) std::memcpy(next.bytes.get(), bytes.get() + from, size - from);
    if (!more.empty()) std::memcpy(next.bytes.get() + size - from, more.data(), more.size());
    if (size > 0) std::memset(bytes.get(), 0xA5, size);
    return next;
  }
};

bool inside(std::string_view view, const char* begin, size_t len) {
  if (view.empty())
    return view.data() == nullptr || (view.data() >= begin && view.data() <= begin + len);
  return view.data() >= begin && view.data() + view.size() <= begin + len;
}

bool within(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

bool is_tchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void check_fields(std::span<const HttpHeader> fields, const char* buf, size_t len) {
  for (const HttpHeader& h : fields) {
    WEASEL_ASSERT(!h.name.empty() && inside(h.name, buf, len) && inside(h.value, buf, len));
    for (char c : h.name) WEASEL_ASSERT(is_tchar(c));
    WEASEL_ASSERT(h.value.find_first_of("\r\n") == std::string_view::npos);
    if (!h.value.empty()) {
      WEASEL_ASSERT(h.value.front() != ' ' && h.value.front() != '\t');
      WEASEL_ASSERT(h.value.back() != ' ' && h.value.back() != '\t');
    }
  }
}

// The request head (and body when complete) must lie in buf[0, len).
void check_request(const HttpRequestParser& parser, const char* buf, size_t len, bool complete) {
  const HttpRequest& r = parser.request();
  const HttpLimits& limits = parser.limits();
  WEASEL_ASSERT(!r.method_name.empty() &&
                r.method_name.size() <= HttpRequestParser::kMaxMethodBytes);
  WEASEL_ASSERT(inside(r.method_name, buf, len) && inside(r.target, buf, len));
  WEASEL_ASSERT(!r.target.empty() && r.target.size() <= limits.max_uri_bytes);
  WEASEL_ASSERT(r.path == "/" || within(r.path, r.target));
  WEASEL_ASSERT(r.query.empty() || within(r.query, r.target));
  WEASEL_ASSERT(r.version_minor == 0 || r.version_minor == 1);
  WEASEL_ASSERT(!r.expect_continue || r.version_minor == 1);
  WEASEL_ASSERT(r.headers().size() + r.trailers().size() <= limits.max_headers);
  check_fields(r.headers(), buf, len);
  check_fields(r.trailers(), buf, len);
  for (const HttpHeader& h : r.headers()) WEASEL_ASSERT(r.header(h.name).has_value());
  if (complete) {
    WEASEL_ASSERT(inside(r.body, buf, len) && r.body.size() <= limits.max_body_bytes);
  } else {
    WEASEL_ASSERT(r.body.empty() && r.trailers().empty());
  }
}

void check_error(const HttpParseError& error) {
  switch (error.status) {
    case 400:
      WEASEL_ASSERT(error.code == "bad_request");
      break;
    case 411:
      WEASEL_ASSERT(error.code == "length_required");
      break;
    case 413:
      WEASEL_ASSERT(error.code == "content_too_large");
      break;
    case 414:
      WEASEL_ASSERT(error.code == "uri_too_long");
      break;
    case 431:
      WEASEL_ASSERT(error.code == "header_too_large");
      break;
    case 501:
      WEASEL_ASSERT(error.code == "not_implemented");
      break;
    case 505:
      WEASEL_ASSERT(error.code == "http_version_not_supported");
      break;
    default:
      WEASEL_ASSERT_MSG(false, "undocumented error status");
  }
  WEASEL_ASSERT(!error.message.empty());
}

// A flat record of everything parsed, to compare the two ways of feeding.
std::string describe(const HttpRequestParser& parser) {
  const HttpRequest& r = parser.request();
  std::string out;
  const auto add = [&out](std::string_view s) {
    out += std::to_string(s.size());
    out += ':';
    out += s;
  };
  add(r.method_name);
  add(r.target);
  add(r.path);
  add(r.query);
  add(r.body);
  out += static_cast<char>('0' + r.version_minor + 2 * r.keep_alive + 4 * r.expect_continue);
  for (const HttpHeader& h : r.headers()) {
    add(h.name);
    add(h.value);
    add(*r.header(h.name));
  }
  out += '|';
  for (const HttpHeader& h : r.trailers()) {
    add(h.name);
    add(h.value);
  }
  out += std::to_string(parser.consumed());
  return out;
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Parses the whole input (split_seed 0) or pieces of it; returns the requests and the verdict.
std::vector<std::string> run(std::string_view input, const HttpLimits& limits,
                             uint64_t split_seed) {
  std::vector<std::string> outcome;
  HttpRequestParser parser(limits);
  Buffer buf;
  size_t fed = 0;
  uint64_t rng = split_seed;
  const uint64_t max_piece = 1 + split_seed % 17;
  while (static_cast<int>(outcome.size()) < kMaxRequestsPerInput) {
    const HttpParseStatus status = parser.parse(buf.bytes.get(), buf.size);
    // Without new bytes a second call must change nothing (final states are sticky).
    WEASEL_ASSERT(parser.parse(buf.bytes.get(), buf.size) == status);
    if (status == HttpParseStatus::kError) {
      check_error(parser.error());
      outcome.push_back("error " + std::to_string(parser.error().status));
      return outcome;
    }
    if (status == HttpParseStatus::kComplete) {
      WEASEL_ASSERT(parser.consumed() > 0 && parser.consumed() <= buf.size);
      check_request(parser, buf.bytes.get(), parser.consumed(), /*complete=*/true);
      outcome.push_back(describe(parser));
      buf = buf.moved(parser.consumed(), {});
      parser.reset();
      continue;
    }
    if (parser.headers_complete()) check_request(parser, buf.bytes.get(), buf.size, false);
    if (fed == input.size()) break;
    size_t n = input.size() - fed;
    if (split_seed != 0) n = std::min<size_t>(n, 1 + splitmix64(rng) % max_piece);
    buf = buf.moved(0, input.substr(fed, n));
    fed += n;
  }
  outcome.push_back("end");
  return outcome;
}

}  // namespace
}  // namespace weasel

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using weasel::HttpLimits;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  HttpLimits tiny;
  tiny.max_uri_bytes = 24;
  tiny.max_header_bytes = 96;
  tiny.max_body_bytes = 40;
  tiny.max_headers = 4;
  uint64_t seed = 1469598103934665603ULL;  // FNV-1a of the input: same input, same splits
  for (char c : input) seed = (seed ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  for (const HttpLimits& limits : {HttpLimits{}, tiny}) {
    const auto whole = weasel::run(input, limits, 0);
    const auto split = weasel::run(input, limits, seed | 1);
    WEASEL_ASSERT_MSG(whole == split, "whole and split feeding disagree");
  }
  return 0;
}
