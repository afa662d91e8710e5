#pragma once
// Standard base64 (RFC 4648 section 4: alphabet A-Z a-z 0-9 + /, '=' padding), strict.
//
// Contract
// - Decoding accepts exactly the canonical encoding of some byte string: the length is a
//   multiple of 4, padding is present when needed and only at the end ("=" or "=="), no
//   whitespace or other characters, and the bits dropped by padding are zero ("QR==" and
//   "QUF=" are rejected; "QQ==" and "QUE=" are their canonical forms). So every accepted input
//   equals base64_encode(base64_decode(input)); there is exactly one spelling per byte string.
// - base64_decode writes at most base64_decoded_size_max(in.size()) bytes into `out`; bytes of
//   `out` past the returned length may be overwritten with scratch values. On invalid input it
//   returns -1 and the content of `out` is unspecified. `in` and `out` must not overlap.
// - base64_encode writes exactly base64_encoded_size(in.size()) bytes (no terminator).
// - Little-endian targets only (static_assert in base64.cpp).
//
// Ownership: nothing is retained; the caller owns both buffers. All functions are thread-safe
// (the lookup tables are constant).

#include <cstddef>
#include <string>
#include <string_view>

namespace weasel {

// Upper bound of the decoded size of `encoded_len` characters (exact for valid input without
// padding). Never smaller than what base64_decode writes.
constexpr size_t base64_decoded_size_max(size_t encoded_len) {
  return (encoded_len / 4 + (encoded_len % 4 != 0 ? 1 : 0)) * 3;
}

// Decodes `in` into `out` (at least base64_decoded_size_max(in.size()) bytes). Returns the
// decoded length, or -1 on invalid input; then *error_offset (when non-null) is the offset of
// the first character at which `in` stops being the beginning of some valid encoding (so
// "QR==" fails at 2: "QR" could still become "QRAA"), or in.size() when `in` is only
// incomplete ("Zg=").
ptrdiff_t base64_decode(std::string_view in, char* out, size_t* error_offset = nullptr);

constexpr size_t base64_encoded_size(size_t len) {
  return (len + 2) / 3 * 4;
}

// Writes base64_encoded_size(in.size()) characters to `out`.
void base64_encode(std::string_view in, char* out);

// Appends the encoding of `in` to `out` (one resize, no per-byte growth).
void base64_encode_append(std::string& out, std::string_view in);

}  // namespace weasel
