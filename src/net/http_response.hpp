#pragma once
// HTTP/1.1 response serialization into a caller-owned output buffer.
//
// Contract and ownership:
// - Every function appends wire bytes to `out` (typically the connection's reused output
//   buffer) and never clears it, so writing a response allocates only when `out` grows.
// - Responses always say HTTP/1.1 (RFC 9110 2.5: a server sends its own highest version).
//   keep_alive=false adds `Connection: close` and the caller closes after writing. For an
//   HTTP/1.0 client (version_minor 0) keep_alive=true adds `Connection: keep-alive`, without
//   which a 1.0 client would expect the connection to close.
// - Content-Length is always sent, except for 204 and 304, which must not carry a body.
// - content_type may be empty (no Content-Type header). Header names, values and content
//   types come from WeaselDB code and must not contain CR or LF (asserted: header injection
//   would be a bug of ours, never a reaction to client input).
// - Date is an IMF-fixdate, formatted at most once per second per thread (thread-local cache,
//   so concurrent I/O threads share nothing).
// - Chunked responses (SSE streams) are for HTTP/1.1 clients only: a 1.0 client cannot
//   decode them.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "net/http_parser.hpp"

namespace weasel {

inline constexpr size_t kHttpDateSize = 29;  // "Sun, 06 Nov 1994 08:49:37 GMT"

// Reason phrase of a status code; "Unknown" for codes WeaselDB never sends.
std::string_view http_reason_phrase(int status);

// IMF-fixdate (RFC 9110 5.6.7) of a Unix time (seconds), in the proleptic Gregorian calendar.
void format_http_date(int64_t unix_seconds, std::span<char, kHttpDateSize> out);

// The current time as an IMF-fixdate. The view points into thread-local storage that is
// rewritten when the second changes: copy it before the next call on the same thread.
std::string_view http_date_now();

// Status line and headers, ending with the blank line; the caller appends content_length
// bytes of body (or none, for a response to HEAD).
void append_response_head(std::string& out, int status, std::string_view content_type,
                          size_t content_length, bool keep_alive,
                          std::span<const HttpHeader> extra = {}, int version_minor = 1);

// A complete response with `body`.
void append_response(std::string& out, int status, std::string_view content_type,
                     std::string_view body, bool keep_alive, std::span<const HttpHeader> extra = {},
                     int version_minor = 1);

// SPEC error response: application/json body {"error":"<code>","message":"<message>"}, both
// strings JSON-escaped.
void append_error_response(std::string& out, int status, std::string_view code,
                           std::string_view message, bool keep_alive,
                           std::span<const HttpHeader> extra = {}, int version_minor = 1);

// Interim `HTTP/1.1 100 Continue` (RFC 9110 15.2.1), sent before reading an expected body.
void append_continue(std::string& out);

// Head of a `Transfer-Encoding: chunked` response; follow with append_chunk() calls and one
// append_last_chunk().
void append_chunked_head(std::string& out, int status, std::string_view content_type,
                         std::span<const HttpHeader> extra = {}, bool keep_alive = true);

// Head of a response whose body streams until the server closes the connection (SSE):
// chunked for HTTP/1.1 clients, delimited by the close for HTTP/1.0 ones; always
// `Connection: close`. Returns whether the body must be sent as chunks.
bool append_stream_head(std::string& out, int status, std::string_view content_type,
                        std::span<const HttpHeader> extra, int version_minor);

// One chunk; empty data appends nothing (an empty chunk would end the body).
void append_chunk(std::string& out, std::string_view data);

// The last chunk and the empty trailer section.
void append_last_chunk(std::string& out);

}  // namespace weasel
