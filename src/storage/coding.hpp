#pragma once
// Byte coding of the engine's on-disk formats: fixed-width little-endian integers, LEB128
// varints and length-prefixed byte strings.
//
// Contract
// - append_* grow a std::string; put_fixed* write into a caller-sized buffer.
// - get_* consume from the front of a string_view and return false on a short input or an
//   overlong varint, leaving the input unspecified: decoding never reads out of bounds.
//
// Ownership: views returned by get_length_prefixed point into the input's bytes.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace weaseldb::storage {

static_assert(std::endian::native == std::endian::little ||
              std::endian::native == std::endian::big);

template <class T>
inline T to_little(T v) {
  if constexpr (std::endian::native == std::endian::little) {
    return v;
  } else if constexpr (sizeof(T) == 2) {
    return __builtin_bswap16(v);
  } else if constexpr (sizeof(T) == 4) {
    return __builtin_bswap32(v);
  } else {
    return __builtin_bswap64(v);
  }
}

inline void put_fixed32(char* out, uint32_t v) {
  v = to_little(v);
  std::memcpy(out, &v, sizeof(v));
}
inline void put_fixed64(char* out, uint64_t v) {
  v = to_little(v);
  std::memcpy(out, &v, sizeof(v));
}
inline uint16_t decode_fixed16(const char* in) {
  uint16_t v;
  std::memcpy(&v, in, sizeof(v));
  return to_little(v);
}
inline uint32_t decode_fixed32(const char* in) {
  uint32_t v;
  std::memcpy(&v, in, sizeof(v));
  return to_little(v);
}
inline uint64_t decode_fixed64(const char* in) {
  uint64_t v;
  std::memcpy(&v, in, sizeof(v));
  return to_little(v);
}

inline void append_fixed32(std::string* out, uint32_t v) {
  char buf[4];
  put_fixed32(buf, v);
  out->append(buf, sizeof(buf));
}
inline void append_fixed64(std::string* out, uint64_t v) {
  char buf[8];
  put_fixed64(buf, v);
  out->append(buf, sizeof(buf));
}

inline constexpr size_t kMaxVarint32Bytes = 5;
inline constexpr size_t kMaxVarint64Bytes = 10;

inline size_t varint_bytes(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline char* put_varint(char* out, uint64_t v) {
  while (v >= 0x80) {
    *out++ = static_cast<char>(static_cast<uint8_t>(v) | 0x80);
    v >>= 7;
  }
  *out++ = static_cast<char>(v);
  return out;
}

inline void append_varint(std::string* out, uint64_t v) {
  char buf[kMaxVarint64Bytes];
  out->append(buf, static_cast<size_t>(put_varint(buf, v) - buf));
}

inline void append_length_prefixed(std::string* out, std::string_view bytes) {
  append_varint(out, bytes.size());
  out->append(bytes);
}

// Decodes a varint of at most max_bytes from [p, limit); nullptr if malformed or short.
inline const char* decode_varint(const char* p, const char* limit, uint64_t* value,
                                 size_t max_bytes) {
  uint64_t result = 0;
  for (size_t i = 0; i < max_bytes && p < limit; ++i) {
    uint64_t byte = static_cast<uint8_t>(*p++);
    result |= (byte & 0x7f) << (7 * i);
    if (byte < 0x80) {
      *value = result;
      return p;
    }
  }
  return nullptr;
}

inline const char* decode_varint32(const char* p, const char* limit, uint32_t* value) {
  uint64_t v = 0;
  p = decode_varint(p, limit, &v, kMaxVarint32Bytes);
  if (p == nullptr || v > UINT32_MAX) return nullptr;
  *value = static_cast<uint32_t>(v);
  return p;
}

inline bool get_varint32(std::string_view* in, uint32_t* value) {
  const char* end = in->data() + in->size();
  const char* p = decode_varint32(in->data(), end, value);
  if (p == nullptr) return false;
  in->remove_prefix(static_cast<size_t>(p - in->data()));
  return true;
}

inline bool get_varint64(std::string_view* in, uint64_t* value) {
  const char* end = in->data() + in->size();
  const char* p = decode_varint(in->data(), end, value, kMaxVarint64Bytes);
  if (p == nullptr) return false;
  in->remove_prefix(static_cast<size_t>(p - in->data()));
  return true;
}

inline bool get_fixed64(std::string_view* in, uint64_t* value) {
  if (in->size() < 8) return false;
  *value = decode_fixed64(in->data());
  in->remove_prefix(8);
  return true;
}

inline bool get_length_prefixed(std::string_view* in, std::string_view* bytes) {
  uint32_t n = 0;
  if (!get_varint32(in, &n) || in->size() < n) return false;
  *bytes = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

}  // namespace weaseldb::storage
