#include "net/http_parser.hpp"

#include <array>
#include <cstring>
#include <limits>

#include "core/assert.hpp"

namespace weasel {
namespace {

enum CharClass : uint8_t {
  kTchar = 1,       // RFC 9110 5.6.2 token characters
  kTargetChar = 2,  // visible ASCII except '#': what a request-target may hold
  kFieldValue = 4,  // VCHAR / obs-text / SP / HTAB (RFC 9110 5.5)
};

constexpr std::array<uint8_t, 256> make_char_classes() {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    uint8_t bits = 0;
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum) bits |= kTchar;
    for (char t : std::string_view("!#$%&'*+-.^_`|~")) {
      if (c == static_cast<unsigned char>(t)) bits |= kTchar;
    }
    if (c >= 0x21 && c <= 0x7e && c != '#') bits |= kTargetChar;
    if ((c >= 0x20 && c != 0x7f) || c == '\t') bits |= kFieldValue;
    table[static_cast<size_t>(c)] = bits;
  }
  return table;
}

constexpr std::array<uint8_t, 256> kCharClasses = make_char_classes();

bool has_class(char c, CharClass cls) {
  return (kCharClasses[static_cast<unsigned char>(c)] & cls) != 0;
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

char to_lower_ascii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (to_lower_ascii(a[i]) != to_lower_ascii(b[i])) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Calls fn(element) for each non-empty element of a comma-separated list (RFC 9110 5.6.1).
template <class Fn>
void for_each_list_element(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty()) fn(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

HttpMethod method_from_name(std::string_view name) {
  switch (name.size()) {
    case 3:
      if (name == "GET") return HttpMethod::kGet;
      if (name == "PUT") return HttpMethod::kPut;
      break;
    case 4:
      if (name == "HEAD") return HttpMethod::kHead;
      if (name == "POST") return HttpMethod::kPost;
      break;
    case 5:
      if (name == "PATCH") return HttpMethod::kPatch;
      break;
    case 6:
      if (name == "DELETE") return HttpMethod::kDelete;
      break;
    case 7:
      if (name == "OPTIONS") return HttpMethod::kOptions;
      break;
    default:
      break;
  }
  return HttpMethod::kOther;
}

// RFC 9110 says a request without framing has no body, but for methods whose meaning needs
// one a missing length is almost surely a client bug: answer 411 instead of guessing.
bool method_needs_length(HttpMethod method) {
  return method == HttpMethod::kPost || method == HttpMethod::kPut || method == HttpMethod::kPatch;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::string_view kAbsentPathRoot = "/";

}  // namespace

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const HttpHeader& h : folded_) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

HttpRequestParser::HttpRequestParser(const HttpLimits& limits) : limits_(limits) {
  // Typical requests carry a handful of fields; reserving now keeps the first requests of a
  // connection from growing the vectors one step at a time.
  fields_.reserve(32);
  views_.reserve(32);
  fold_plan_.reserve(32);
  folded_.reserve(32);
}

const HttpRequest& HttpRequestParser::request() const {
  WEASEL_ASSERT(headers_complete_);
  return request_;
}

size_t HttpRequestParser::consumed() const {
  WEASEL_ASSERT(state_ == State::kComplete);
  return pos_;
}

const HttpParseError& HttpRequestParser::error() const {
  WEASEL_ASSERT(state_ == State::kError);
  return error_;
}

void HttpRequestParser::reset() {
  fields_.clear();
  views_.clear();
  fold_plan_.clear();
  folded_.clear();
  fold_storage_.clear();
  state_ = State::kRequestLine;
  line_phase_ = LinePhase::kLeading;
  pos_ = scan_ = section_start_ = 0;
  method_begin_ = method_end_ = target_begin_ = target_end_ = 0;
  path_begin_ = path_size_ = query_begin_ = query_size_ = 0;
  body_begin_ = body_end_ = 0;
  content_length_ = chunk_remaining_ = chunk_overhead_bytes_ = header_count_ = 0;
  version_minor_ = 1;
  te_chunked_count_ = 0;
  has_content_length_ = has_transfer_encoding_ = te_unsupported_ = te_last_chunked_ = false;
  connection_close_ = connection_keep_alive_ = expect_continue_ = headers_complete_ = false;
  views_buf_ = nullptr;
  request_ = HttpRequest{};
  error_ = HttpParseError{};
}

HttpRequestParser::Step HttpRequestParser::fail(int status, std::string_view code,
                                                std::string_view message) {
  error_ = HttpParseError{status, code, message};
  state_ = State::kError;
  return Step::kError;
}

HttpParseStatus HttpRequestParser::parse(char* buf, size_t len) {
  if (state_ == State::kComplete) return HttpParseStatus::kComplete;
  if (state_ == State::kError) return HttpParseStatus::kError;
  WEASEL_ASSERT(buf != nullptr || len == 0);
  WEASEL_ASSERT(len >= pos_);  // the caller may append, never drop unconsumed bytes
  for (;;) {
    switch (dispatch(buf, len)) {
      case Step::kContinue:
        break;
      case Step::kNeedMore:
        if (headers_complete_ && views_buf_ != buf) build_views(buf);
        return HttpParseStatus::kNeedMore;
      case Step::kDone:
        WEASEL_ASSERT(state_ == State::kComplete && pos_ <= len);
        if (views_buf_ != buf || views_.size() != fields_.size()) build_views(buf);
        request_.trailers_ = std::span<const HttpHeader>(views_.data() + header_count_,
                                                         views_.size() - header_count_);
        request_.body = std::string_view(buf + body_begin_, body_end_ - body_begin_);
        return HttpParseStatus::kComplete;
      case Step::kError:
        WEASEL_ASSERT(state_ == State::kError && error_.status >= 400);
        return HttpParseStatus::kError;
    }
  }
}

HttpRequestParser::Step HttpRequestParser::dispatch(char* buf, size_t len) {
  Step step = Step::kNeedMore;
  switch (state_) {
    case State::kRequestLine:
      step = parse_request_line(buf, len);
      if (step == Step::kDone) {
        state_ = State::kHeaders;
        section_start_ = scan_ = pos_;
        step = Step::kContinue;
      }
      return step;
    case State::kHeaders:
      step = parse_fields(buf, len, /*trailers=*/false);
      return step == Step::kDone ? finish_headers(buf) : step;
    case State::kContentBody:
      return parse_content_body(len);
    case State::kChunkSize:
      return parse_chunk_size(buf, len);
    case State::kChunkData:
      return parse_chunk_data(buf, len);
    case State::kChunkDataEnd:
      return parse_chunk_data_end(buf, len);
    case State::kTrailers:
      step = parse_fields(buf, len, /*trailers=*/true);
      if (step == Step::kDone) state_ = State::kComplete;
      return step;
    case State::kComplete:
    case State::kError:
      break;
  }
  WEASEL_ASSERT_MSG(false, "dispatch in a final state");
  return Step::kError;
}

// Scans the request line byte by byte so that each byte is looked at once however the request
// is split, and so that an overlong target is refused before its end arrives.
HttpRequestParser::Step HttpRequestParser::parse_request_line(const char* buf, size_t len) {
  while (pos_ < len) {
    switch (line_phase_) {
      case LinePhase::kLeading:
        if (buf[pos_] == '\n') {
          ++pos_;
        } else if (buf[pos_] == '\r') {
          if (pos_ + 1 >= len) return Step::kNeedMore;
          if (buf[pos_ + 1] != '\n') return fail(400, "bad_request", "bare CR before request");
          pos_ += 2;
        } else {
          method_begin_ = pos_;
          line_phase_ = LinePhase::kMethod;
        }
        if (pos_ > kMaxLeadingEmptyLineBytes) {
          return fail(400, "bad_request", "too many empty lines before the request line");
        }
        break;
      case LinePhase::kMethod:
        while (pos_ < len && has_class(buf[pos_], kTchar)) ++pos_;
        if (pos_ - method_begin_ > kMaxMethodBytes) {
          return fail(400, "bad_request", "request method too long");
        }
        if (pos_ == len) return Step::kNeedMore;
        if (buf[pos_] != ' ' || pos_ == method_begin_) {
          return fail(400, "bad_request", "invalid request method");
        }
        method_end_ = pos_++;
        target_begin_ = pos_;
        line_phase_ = LinePhase::kTarget;
        break;
      case LinePhase::kTarget:
        while (pos_ < len && has_class(buf[pos_], kTargetChar)) ++pos_;
        if (pos_ - target_begin_ > limits_.max_uri_bytes) {
          return fail(414, "uri_too_long", "request target too long");
        }
        if (pos_ == len) return Step::kNeedMore;
        if (buf[pos_] != ' ' || pos_ == target_begin_) {
          return fail(400, "bad_request", "invalid character in request target");
        }
        target_end_ = pos_++;
        line_phase_ = LinePhase::kVersion;
        break;
      case LinePhase::kVersion:
        return parse_version(buf, len);
    }
  }
  return Step::kNeedMore;
}

HttpRequestParser::Step HttpRequestParser::parse_version(const char* buf, size_t len) {
  constexpr size_t kVersionLineMax = 9;  // "HTTP/1.1\r" before the LF
  const size_t window = std::min(len - pos_, kVersionLineMax + 1);
  const void* lf = std::memchr(buf + pos_, '\n', window);
  if (lf == nullptr) {
    if (window > kVersionLineMax) return fail(400, "bad_request", "malformed HTTP version");
    return Step::kNeedMore;
  }
  const size_t lf_pos = static_cast<size_t>(static_cast<const char*>(lf) - buf);
  std::string_view version(buf + pos_, lf_pos - pos_);
  if (!version.empty() && version.back() == '\r') version.remove_suffix(1);
  const bool shaped = version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[5] >= '0' &&
                      version[5] <= '9' && version[6] == '.' && version[7] >= '0' &&
                      version[7] <= '9';
  if (!shaped) return fail(400, "bad_request", "malformed HTTP version");
  if (version[5] != '1') {
    return fail(505, "http_version_not_supported", "only HTTP/1.x is supported");
  }
  version_minor_ = version[7] == '0' ? 0 : 1;
  pos_ = lf_pos + 1;
  const Step step = classify_target(buf);
  return step == Step::kError ? step : Step::kDone;
}

// Splits the target into path and query once, so that build_views() only makes views.
HttpRequestParser::Step HttpRequestParser::classify_target(const char* buf) {
  const std::string_view target(buf + target_begin_, target_end_ - target_begin_);
  const std::string_view method(buf + method_begin_, method_end_ - method_begin_);
  WEASEL_ASSERT(!target.empty());
  size_t path_offset = 0;
  if (target == "*") {
    if (method != "OPTIONS") return fail(400, "bad_request", "asterisk-form target needs OPTIONS");
  } else if (target.front() != '/') {
    // absolute-form (RFC 9112 3.2.2): a server must accept it; the path is what routing uses.
    size_t scheme_size = 0;
    if (target.size() > 7 && iequals(target.substr(0, 7), "http://")) scheme_size = 7;
    if (target.size() > 8 && iequals(target.substr(0, 8), "https://")) scheme_size = 8;
    if (scheme_size == 0) return fail(400, "bad_request", "unsupported request-target form");
    const size_t authority_end = target.find_first_of("/?", scheme_size);
    if (authority_end == scheme_size) return fail(400, "bad_request", "empty authority");
    path_offset = authority_end == std::string_view::npos ? target.size() : authority_end;
  }
  const size_t question = target.find('?', path_offset);
  const size_t path_end = question == std::string_view::npos ? target.size() : question;
  path_begin_ = target_begin_ + path_offset;
  path_size_ = path_end - path_offset;
  query_begin_ = question == std::string_view::npos ? target_end_ : target_begin_ + question + 1;
  query_size_ = target_end_ - query_begin_;
  return Step::kContinue;
}

// Parses complete field lines from pos_; the header block and the trailer section are both
// bounded by max_header_bytes, checked before a line's content so that the verdict does not
// depend on how the bytes were split across calls.
HttpRequestParser::Step HttpRequestParser::parse_fields(const char* buf, size_t len,
                                                        bool trailers) {
  for (;;) {
    WEASEL_ASSERT(scan_ >= pos_ && scan_ <= len);
    const void* hit = scan_ < len ? std::memchr(buf + scan_, '\n', len - scan_) : nullptr;
    if (hit == nullptr) {
      if (len - section_start_ > limits_.max_header_bytes) {
        return fail(431, "header_too_large", "header section too large");
      }
      scan_ = len;
      return Step::kNeedMore;
    }
    const size_t lf_pos = static_cast<size_t>(static_cast<const char*>(hit) - buf);
    if (lf_pos + 1 - section_start_ > limits_.max_header_bytes) {
      return fail(431, "header_too_large", "header section too large");
    }
    size_t end = lf_pos;
    if (end > pos_ && buf[end - 1] == '\r') --end;
    if (end == pos_) {
      pos_ = scan_ = lf_pos + 1;
      return Step::kDone;
    }
    if (parse_field_line(buf, pos_, end, trailers) == Step::kError) return Step::kError;
    pos_ = scan_ = lf_pos + 1;
  }
}

HttpRequestParser::Step HttpRequestParser::parse_field_line(const char* buf, size_t begin,
                                                            size_t end, bool trailers) {
  WEASEL_ASSERT(begin < end);
  if (is_ows(buf[begin])) {
    return fail(400, "bad_request", "obsolete line folding is not allowed");
  }
  size_t i = begin;
  while (i < end && has_class(buf[i], kTchar)) ++i;
  if (i == begin || i == end || buf[i] != ':') {
    return fail(400, "bad_request", "invalid header field name");
  }
  const size_t name_end = i++;
  while (i < end && is_ows(buf[i])) ++i;
  size_t value_end = end;
  while (value_end > i && is_ows(buf[value_end - 1])) --value_end;
  for (size_t k = i; k < value_end; ++k) {
    if (!has_class(buf[k], kFieldValue)) {
      return fail(400, "bad_request", "invalid character in header field value");
    }
  }
  if (fields_.size() >= limits_.max_headers) {
    return fail(431, "header_too_large", "too many header fields");
  }
  fields_.push_back(FieldOffsets{begin, name_end - begin, i, value_end - i});
  if (trailers) return Step::kContinue;  // trailers never change framing or connection reuse
  return interpret_field(std::string_view(buf + begin, name_end - begin),
                         std::string_view(buf + i, value_end - i));
}

HttpRequestParser::Step HttpRequestParser::interpret_field(std::string_view name,
                                                           std::string_view value) {
  switch (name.size()) {
    case 14:
      if (iequals(name, "content-length")) return parse_content_length(value);
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) parse_transfer_encoding(value);
      break;
    case 10:
      if (iequals(name, "connection")) parse_connection(value);
      break;
    case 6:
      if (iequals(name, "expect") && iequals(value, "100-continue")) expect_continue_ = true;
      break;
    default:
      break;
  }
  return Step::kContinue;
}

HttpRequestParser::Step HttpRequestParser::parse_content_length(std::string_view value) {
  if (value.empty()) return fail(400, "bad_request", "empty Content-Length");
  constexpr size_t kMax = std::numeric_limits<size_t>::max();
  size_t length = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return fail(400, "bad_request", "invalid Content-Length");
    const size_t digit = static_cast<size_t>(c - '0');
    // Saturate: any overflowing value is above every limit and answered with 413.
    length = length > (kMax - digit) / 10 ? kMax : length * 10 + digit;
  }
  if (has_content_length_ && length != content_length_) {
    return fail(400, "bad_request", "conflicting Content-Length values");
  }
  has_content_length_ = true;
  content_length_ = length;
  return Step::kContinue;
}

void HttpRequestParser::parse_transfer_encoding(std::string_view value) {
  has_transfer_encoding_ = true;
  for_each_list_element(value, [this](std::string_view coding) {
    te_last_chunked_ = iequals(coding, "chunked");
    if (te_last_chunked_) {
      ++te_chunked_count_;
    } else {
      te_unsupported_ = true;
    }
  });
}

void HttpRequestParser::parse_connection(std::string_view value) {
  for_each_list_element(value, [this](std::string_view option) {
    if (iequals(option, "close")) connection_close_ = true;
    if (iequals(option, "keep-alive")) connection_keep_alive_ = true;
  });
}

HttpRequestParser::Step HttpRequestParser::finish_headers(const char* buf) {
  const HttpMethod method =
      method_from_name(std::string_view(buf + method_begin_, method_end_ - method_begin_));
  if (has_transfer_encoding_) {
    if (has_content_length_) {
      return fail(400, "bad_request", "both Transfer-Encoding and Content-Length");
    }
    if (version_minor_ == 0) {
      return fail(400, "bad_request", "Transfer-Encoding in an HTTP/1.0 request");
    }
    if (te_unsupported_) {
      return fail(501, "not_implemented", "only the chunked transfer coding is supported");
    }
    // RFC 9112 6.3: chunked must be the final coding (here: an empty coding list).
    if (!te_last_chunked_) return fail(400, "bad_request", "chunked is not the final coding");
    if (te_chunked_count_ != 1) return fail(400, "bad_request", "chunked applied twice");
  }
  if (has_content_length_ && content_length_ > limits_.max_body_bytes) {
    return fail(413, "content_too_large", "request body too large");
  }
  if (!has_transfer_encoding_ && !has_content_length_ && method_needs_length(method)) {
    return fail(411, "length_required", "Content-Length or chunked body required");
  }
  headers_complete_ = true;
  header_count_ = fields_.size();
  body_begin_ = body_end_ = pos_;
  request_.method = method;
  request_.version_minor = version_minor_;
  request_.keep_alive = !connection_close_ && (version_minor_ == 1 || connection_keep_alive_);
  request_.expect_continue = expect_continue_ && version_minor_ == 1;
  plan_folding(buf);
  build_views(buf);
  if (has_transfer_encoding_) {
    state_ = State::kChunkSize;
    scan_ = pos_;
    return Step::kContinue;
  }
  if (has_content_length_ && content_length_ > 0) {
    state_ = State::kContentBody;
    return Step::kContinue;
  }
  state_ = State::kComplete;
  return Step::kDone;
}

HttpRequestParser::Step HttpRequestParser::parse_content_body(size_t len) {
  WEASEL_ASSERT(pos_ == body_begin_);
  if (len - body_begin_ < content_length_) return Step::kNeedMore;
  body_end_ = pos_ = body_begin_ + content_length_;
  state_ = State::kComplete;
  return Step::kDone;
}

HttpRequestParser::Step HttpRequestParser::add_chunk_overhead(size_t bytes) {
  chunk_overhead_bytes_ += bytes;
  if (chunk_overhead_bytes_ > limits_.max_body_bytes + kMaxChunkLineBytes) {
    return fail(413, "content_too_large", "chunked framing overhead too large");
  }
  return Step::kContinue;
}

// chunk = chunk-size [ chunk-ext ] CRLF; extensions are validated and ignored.
HttpRequestParser::Step HttpRequestParser::parse_chunk_size(const char* buf, size_t len) {
  WEASEL_ASSERT(scan_ >= pos_ && scan_ <= len);
  const void* hit = scan_ < len ? std::memchr(buf + scan_, '\n', len - scan_) : nullptr;
  if (hit == nullptr) {
    if (len - pos_ > kMaxChunkLineBytes) return fail(400, "bad_request", "chunk line too long");
    scan_ = len;
    return Step::kNeedMore;
  }
  const size_t lf_pos = static_cast<size_t>(static_cast<const char*>(hit) - buf);
  if (lf_pos + 1 - pos_ > kMaxChunkLineBytes) {
    return fail(400, "bad_request", "chunk line too long");
  }
  if (add_chunk_overhead(lf_pos + 1 - pos_) == Step::kError) return Step::kError;
  std::string_view line(buf + pos_, lf_pos - pos_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t body_size = body_end_ - body_begin_;
  const size_t room = limits_.max_body_bytes - body_size;
  size_t chunk_size = 0;
  size_t i = 0;
  constexpr size_t kShiftMax = std::numeric_limits<size_t>::max() / 16;
  for (; i < line.size() && hex_value(line[i]) >= 0; ++i) {
    if (chunk_size > kShiftMax) return fail(413, "content_too_large", "request body too large");
    chunk_size = chunk_size * 16 + static_cast<size_t>(hex_value(line[i]));
    if (chunk_size > room) return fail(413, "content_too_large", "request body too large");
  }
  if (i == 0) return fail(400, "bad_request", "invalid chunk size");
  while (i < line.size() && is_ows(line[i])) ++i;
  if (i < line.size()) {
    if (line[i] != ';') return fail(400, "bad_request", "invalid chunk size");
    for (; i < line.size(); ++i) {
      if (!has_class(line[i], kFieldValue)) {
        return fail(400, "bad_request", "invalid character in chunk extension");
      }
    }
  }
  pos_ = scan_ = lf_pos + 1;
  if (chunk_size == 0) {
    state_ = State::kTrailers;
    section_start_ = pos_;
  } else {
    chunk_remaining_ = chunk_size;
    state_ = State::kChunkData;
  }
  return Step::kContinue;
}

// Moves the chunk's bytes down to the end of the decoded body: each body byte is copied once,
// and the decoded body ends up contiguous for the caller.
HttpRequestParser::Step HttpRequestParser::parse_chunk_data(char* buf, size_t len) {
  WEASEL_ASSERT(chunk_remaining_ > 0 && body_end_ <= pos_);
  const size_t available = std::min(chunk_remaining_, len - pos_);
  if (available > 0 && body_end_ != pos_) std::memmove(buf + body_end_, buf + pos_, available);
  body_end_ += available;
  pos_ += available;
  chunk_remaining_ -= available;
  WEASEL_ASSERT(body_end_ - body_begin_ <= limits_.max_body_bytes);
  if (chunk_remaining_ > 0) return Step::kNeedMore;
  state_ = State::kChunkDataEnd;
  return Step::kContinue;
}

HttpRequestParser::Step HttpRequestParser::parse_chunk_data_end(const char* buf, size_t len) {
  if (pos_ >= len) return Step::kNeedMore;
  size_t line_end = 0;
  if (buf[pos_] == '\n') {
    line_end = 1;
  } else if (buf[pos_] == '\r') {
    if (pos_ + 1 >= len) return Step::kNeedMore;
    if (buf[pos_ + 1] != '\n') return fail(400, "bad_request", "missing CRLF after chunk data");
    line_end = 2;
  } else {
    return fail(400, "bad_request", "missing CRLF after chunk data");
  }
  if (add_chunk_overhead(line_end) == Step::kError) return Step::kError;
  pos_ = scan_ = pos_ + line_end;
  state_ = State::kChunkSize;
  return Step::kContinue;
}

void HttpRequestParser::build_views(const char* buf) {
  WEASEL_ASSERT(headers_complete_);
  request_.method_name = std::string_view(buf + method_begin_, method_end_ - method_begin_);
  request_.target = std::string_view(buf + target_begin_, target_end_ - target_begin_);
  request_.path =
      path_size_ == 0 ? kAbsentPathRoot : std::string_view(buf + path_begin_, path_size_);
  request_.query = std::string_view(buf + query_begin_, query_size_);
  request_.body = {};  // set by parse() once the request is complete
  views_.clear();
  for (const FieldOffsets& f : fields_) {
    views_.push_back(HttpHeader{std::string_view(buf + f.name_begin, f.name_size),
                                std::string_view(buf + f.value_begin, f.value_size)});
  }
  WEASEL_ASSERT(header_count_ <= views_.size());
  request_.headers_ = std::span<const HttpHeader>(views_.data(), header_count_);
  request_.trailers_ = {};  // like the body, set by parse() once the request is complete
  link_folded();
  views_buf_ = buf;
}

// One entry per distinct name, computed once per request: O(n^2) name comparisons with
// n <= max_headers, typically a few dozen compares of short names (cheaper than hashing).
// Joined values are copied into fold_storage_, so a later buffer move only remaps views.
void HttpRequestParser::plan_folding(const char* buf) {
  const auto name = [this, buf](size_t i) {
    return std::string_view(buf + fields_[i].name_begin, fields_[i].name_size);
  };
  const auto value = [this, buf](size_t i) {
    return std::string_view(buf + fields_[i].value_begin, fields_[i].value_size);
  };
  fold_plan_.clear();
  fold_storage_.clear();
  for (size_t i = 0; i < header_count_; ++i) {
    bool seen_before = false;
    for (size_t j = 0; j < i && !seen_before; ++j) seen_before = iequals(name(j), name(i));
    if (seen_before) continue;
    FoldEntry entry{i, false, fold_storage_.size(), 0};
    for (size_t k = i + 1; k < header_count_ && !entry.joined; ++k) {
      entry.joined = iequals(name(k), name(i));
    }
    if (entry.joined) {
      for (size_t k = i; k < header_count_; ++k) {
        if (value(k).empty() || !iequals(name(k), name(i))) continue;
        if (fold_storage_.size() > entry.joined_begin) fold_storage_.append(", ");
        fold_storage_.append(value(k));
      }
      entry.joined_size = fold_storage_.size() - entry.joined_begin;
    }
    fold_plan_.push_back(entry);
  }
}

void HttpRequestParser::link_folded() {
  folded_.clear();
  for (const FoldEntry& entry : fold_plan_) {
    WEASEL_ASSERT(entry.header_index < header_count_);
    HttpHeader h = views_[entry.header_index];
    if (entry.joined) {
      WEASEL_ASSERT(entry.joined_begin + entry.joined_size <= fold_storage_.size());
      h.value = std::string_view(fold_storage_.data() + entry.joined_begin, entry.joined_size);
    }
    folded_.push_back(h);
  }
  request_.folded_ = folded_;
}

}  // namespace weasel
