#pragma once
// JSON string literals for hand-written JSON (error bodies, small response objects).
//
// Contract: append_json_string() always appends one valid JSON string literal (RFC 8259,
// quotes included), whatever the input bytes, so untrusted text can be echoed safely:
// - `"` and `\` are escaped; control characters become \b \f \n \r \t or \u00XX; DEL becomes
//   \u007f (valid raw, but invisible in logs);
// - valid UTF-8 is copied as is;
// - each byte that does not start a valid UTF-8 sequence (stray continuation bytes, overlong
//   forms, surrogates, code points above U+10FFFF, truncated sequences) becomes \ufffd, the
//   replacement character, so the output is valid UTF-8 JSON.
// json_string_size() returns the exact number of bytes append_json_string() would append, so
// a caller can write Content-Length before the body without a temporary string.
// Header-only and allocation-free apart from growing `out`.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace weasel {
namespace json_escape_detail {

// Size of the valid UTF-8 sequence at p[0] (p[0] >= 0x80), 0 if it is not one (Unicode 15,
// table 3-7 "well-formed UTF-8 byte sequences").
inline size_t utf8_sequence_size(const unsigned char* p, size_t available) {
  const unsigned b0 = p[0];
  if (b0 < 0xc2 || b0 > 0xf4) return 0;
  size_t need = 2;
  unsigned lo = 0x80;
  unsigned hi = 0xbf;
  if (b0 >= 0xf0) {
    need = 4;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else if (b0 >= 0xe0) {
    need = 3;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;  // no UTF-16 surrogates
  }
  if (available < need || p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < need; ++i) {
    if ((p[i] & 0xc0) != 0x80) return 0;
  }
  return need;
}

// True for the ASCII bytes that go out unchanged.
inline bool is_plain_ascii(unsigned char c) {
  return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

// Walks `s` and hands every output piece to sink(const char*, size_t).
template <class Sink>
void escape_json(std::string_view s, Sink&& sink) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  sink("\"", 1);
  size_t i = 0;
  while (i < n) {
    size_t run = i;
    while (run < n && is_plain_ascii(p[run])) ++run;
    if (run > i) sink(s.data() + i, run - i);
    i = run;
    if (i == n) break;
    const unsigned char c = p[i];
    if (c >= 0x80) {
      const size_t seq = utf8_sequence_size(p + i, n - i);
      if (seq == 0) {
        sink("\\ufffd", 6);
        ++i;
      } else {
        sink(s.data() + i, seq);
        i += seq;
      }
      continue;
    }
    const char* short_escape = nullptr;
    switch (c) {
      case '"':
        short_escape = "\\\"";
        break;
      case '\\':
        short_escape = "\\\\";
        break;
      case '\b':
        short_escape = "\\b";
        break;
      case '\f':
        short_escape = "\\f";
        break;
      case '\n':
        short_escape = "\\n";
        break;
      case '\r':
        short_escape = "\\r";
        break;
      case '\t':
        short_escape = "\\t";
        break;
      default:
        break;
    }
    if (short_escape != nullptr) {
      sink(short_escape, 2);
    } else {
      const char unicode[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
      sink(unicode, 6);
    }
    ++i;
  }
  sink("\"", 1);
}

}  // namespace json_escape_detail

inline size_t json_string_size(std::string_view s) {
  size_t size = 0;
  json_escape_detail::escape_json(s, [&size](const char*, size_t n) { size += n; });
  return size;
}

inline void append_json_string(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size() + 2);
  json_escape_detail::escape_json(s, [&out](const char* p, size_t n) { out.append(p, n); });
}

}  // namespace weasel
