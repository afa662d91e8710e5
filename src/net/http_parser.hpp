#pragma once
// Incremental, zero-copy HTTP/1.1 request parser (RFC 9112 framing, RFC 9110 semantics).
//
// Contract and ownership:
// - The caller (a connection) owns the bytes. parse(buf, len) is given every not-yet-consumed
//   byte of the connection, starting at the current request's first byte. Between calls the
//   caller may append bytes and may move the buffer (realloc), but must keep bytes [0, len)
//   exactly as the parser left them: chunked bodies are decoded in place inside buf.
// - The parser keeps offsets only and resumes where it stopped, so a request that arrives one
//   byte at a time costs O(request size) in total, not O(size^2).
// - Every view in request() points into the buf of the latest parse() call (except a
//   folded duplicate header value and the "/" path of an absolute-form target without a path,
//   which point into storage owned by the parser or static storage). Views stay valid until
//   the caller moves or rewrites that buffer (the next parse() call re-targets them at the
//   new one), or calls reset().
// - The parser owns the storage behind headers(), trailers() and folded values, and reuses it
//   across reset(): parsing allocates nothing per request once warmed up. It is neither
//   copyable nor movable (request() refers to that storage): keep one per connection, in
//   place or behind a pointer.
// - kError is final for the connection: the byte stream cannot be resynchronized. Answer with
//   error() (status and SPEC error code) and `Connection: close`, then close.
// - Bad input never trips an assertion; assertions guard caller misuse and parser invariants.
//
// Accepted syntax (deliberately strict where leniency enables request smuggling):
// - Lines end with CRLF or a bare LF (RFC 9112 2.2); a bare CR is an error. Up to
//   kMaxLeadingEmptyLineBytes of empty lines before a request line are skipped.
// - Request line: `token SP request-target SP HTTP/1.x`, single spaces. Targets are
//   origin-form, asterisk-form (OPTIONS only) or absolute-form (http/https) and may contain
//   visible ASCII except '#'. HTTP/1.x with x >= 1 is treated as 1.1; another major -> 505.
// - Header block: field lines plus the blank line that ends them, at most max_header_bytes
//   (431); obs-fold and whitespace before the colon are 400.
// - Bodies: Content-Length (digits only, duplicates must agree) or Transfer-Encoding: chunked
//   (chunked only, and only in HTTP/1.1). Trailers count against max_header_bytes and
//   max_headers, are exposed by trailers() and never change how the request is framed. The
//   chunked framing overhead (size lines, extensions, CRLFs) is bounded by max_body_bytes +
//   kMaxChunkLineBytes, so a body of tiny chunks cannot make the caller buffer unbounded data.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace weasel {

struct HttpLimits {
  size_t max_uri_bytes = 8192;
  size_t max_header_bytes = 16384;
  size_t max_body_bytes = 1 << 20;
  size_t max_headers = 100;
};

enum class HttpMethod : uint8_t { kGet, kHead, kPost, kPut, kDelete, kOptions, kPatch, kOther };

struct HttpHeader {
  std::string_view name;
  std::string_view value;
};

struct HttpRequest {
  HttpMethod method = HttpMethod::kOther;
  std::string_view method_name;
  std::string_view target;       // raw request-target
  std::string_view path;         // target before '?' (not decoded); for absolute-form the path part
  std::string_view query;        // after '?', empty if none
  int version_minor = 1;         // HTTP/1.0 -> 0, HTTP/1.1 -> 1
  bool keep_alive = false;       // from version + Connection header (close / keep-alive tokens)
  bool expect_continue = false;  // Expect: 100-continue (HTTP/1.1 only, RFC 9110 10.1.1)
  std::string_view body;         // contiguous: Content-Length body, or the de-chunked body

  // Header fields in order, as received (name and value views; values without OWS).
  std::span<const HttpHeader> headers() const { return headers_; }
  // Trailer fields of a chunked body, in order (empty otherwise).
  std::span<const HttpHeader> trailers() const { return trailers_; }
  // Case-insensitive lookup; duplicates folded per RFC 9110 5.3 (values joined with ", ",
  // empty values skipped).
  std::optional<std::string_view> header(std::string_view name) const;

 private:
  friend class HttpRequestParser;
  std::span<const HttpHeader> headers_;
  std::span<const HttpHeader> trailers_;
  std::span<const HttpHeader> folded_;  // one entry per distinct header name
};

enum class HttpParseStatus { kNeedMore, kComplete, kError };

// status/code per SPEC: 400 bad_request, 411 length_required, 413 content_too_large,
// 414 uri_too_long, 431 header_too_large, 501 not_implemented (unsupported
// Transfer-Encoding), 505 http_version_not_supported. code and message are static strings.
struct HttpParseError {
  int status = 0;
  std::string_view code;
  std::string_view message;
};

class HttpRequestParser {
 public:
  static constexpr size_t kMaxMethodBytes = 32;
  static constexpr size_t kMaxLeadingEmptyLineBytes = 64;
  static constexpr size_t kMaxChunkLineBytes = 4096;  // chunk size + extensions + CRLF

  explicit HttpRequestParser(const HttpLimits& limits);
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // `buf` holds every not-yet-consumed byte of the connection, starting at this request's first
  // byte; len never shrinks between calls for one request. Returns kNeedMore until the request
  // is complete or malformed. Once kComplete or kError, further calls return the same status
  // until reset().
  HttpParseStatus parse(char* buf, size_t len);

  // Valid once headers_complete() (the body stays empty until kComplete) until reset().
  const HttpRequest& request() const;
  // Bytes of buf this request used, including skipped leading empty lines (after kComplete).
  size_t consumed() const;
  // The header block is parsed and accepted; the body may still be pending (-> the caller
  // may send 100 Continue when request().expect_continue and parse() said kNeedMore).
  bool headers_complete() const { return headers_complete_; }
  const HttpParseError& error() const;  // after kError
  void reset();                         // ready for the next request (reuses its storage)

  const HttpLimits& limits() const { return limits_; }

 private:
  enum class State : uint8_t {
    kRequestLine,
    kHeaders,
    kContentBody,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kComplete,
    kError,
  };
  enum class LinePhase : uint8_t { kLeading, kMethod, kTarget, kVersion };
  enum class Step : uint8_t { kContinue, kNeedMore, kDone, kError };
  struct FoldEntry {      // one distinct header name
    size_t header_index;  // its first occurrence
    bool joined;          // several fields: the value is fold_storage_[joined_begin, +size)
    size_t joined_begin;
    size_t joined_size;
  };
  struct FieldOffsets {
    size_t name_begin;
    size_t name_size;
    size_t value_begin;
    size_t value_size;
  };

  Step fail(int status, std::string_view code, std::string_view message);
  Step parse_request_line(const char* buf, size_t len);
  Step parse_version(const char* buf, size_t len);
  Step classify_target(const char* buf);
  Step parse_fields(const char* buf, size_t len, bool trailers);
  Step parse_field_line(const char* buf, size_t begin, size_t end, bool trailers);
  Step interpret_field(std::string_view name, std::string_view value);
  Step parse_content_length(std::string_view value);
  void parse_transfer_encoding(std::string_view value);
  void parse_connection(std::string_view value);
  Step finish_headers(const char* buf);
  Step parse_content_body(size_t len);
  Step parse_chunk_size(const char* buf, size_t len);
  Step parse_chunk_data(char* buf, size_t len);
  Step parse_chunk_data_end(const char* buf, size_t len);
  Step add_chunk_overhead(size_t bytes);
  Step dispatch(char* buf, size_t len);
  void build_views(const char* buf);
  void plan_folding(const char* buf);
  void link_folded();

  HttpLimits limits_;
  State state_ = State::kRequestLine;
  LinePhase line_phase_ = LinePhase::kLeading;
  size_t pos_ = 0;            // first byte not yet processed
  size_t scan_ = 0;           // where the search for the current line's LF resumes
  size_t section_start_ = 0;  // first byte of the header block or trailer section
  size_t method_begin_ = 0, method_end_ = 0;
  size_t target_begin_ = 0, target_end_ = 0;
  size_t path_begin_ = 0, path_size_ = 0;  // path_size_ 0 in absolute-form -> "/"
  size_t query_begin_ = 0, query_size_ = 0;
  size_t body_begin_ = 0, body_end_ = 0;  // chunked: body_end_ is the in-place write position
  size_t content_length_ = 0;
  size_t chunk_remaining_ = 0;
  size_t chunk_overhead_bytes_ = 0;
  size_t header_count_ = 0;  // fields_[0, header_count_) are headers, the rest trailers
  int version_minor_ = 1;
  int te_chunked_count_ = 0;
  bool has_content_length_ = false;
  bool has_transfer_encoding_ = false;
  bool te_unsupported_ = false;
  bool te_last_chunked_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool expect_continue_ = false;
  bool headers_complete_ = false;
  const char* views_buf_ = nullptr;  // buf the views in request_ were built for
  std::vector<FieldOffsets> fields_;
  std::vector<HttpHeader> views_;
  std::vector<FoldEntry> fold_plan_;
  std::vector<HttpHeader> folded_;
  std::string fold_storage_;
  HttpRequest request_;
  HttpParseError error_;
};

}  // namespace weasel
