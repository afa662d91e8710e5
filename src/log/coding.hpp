#pragma once
// Byte coding shared by the log's on-disk formats (batches, the metadata file): fixed-width
// little-endian integers and LEB128 varints.
//
// Contract
// - put_* write into a caller-sized buffer and return the position after what they wrote;
//   the caller has made room (varint_bytes() says how much a varint needs).
// - Decoding goes through ByteCursor, which never reads past its end: every get_* returns
//   false (and leaves the cursor unusable) on a short buffer, an overlong varint, or a
//   non-canonical varint (a redundant trailing zero byte). Rejecting non-canonical encodings
//   makes every valid encoding unique, so decode(encode(x)) == x and encode(decode(b)) == b.
//
// Ownership: ByteCursor borrows the bytes it walks; they must outlive it.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace weasel::coding {

static_assert(std::endian::native == std::endian::little ||
              std::endian::native == std::endian::big);

inline uint16_t to_little(uint16_t v) {
  return std::endian::native == std::endian::little ? v : __builtin_bswap16(v);
}
inline uint32_t to_little(uint32_t v) {
  return std::endian::native == std::endian::little ? v : __builtin_bswap32(v);
}
inline uint64_t to_little(uint64_t v) {
  return std::endian::native == std::endian::little ? v : __builtin_bswap64(v);
}

template <class T>
inline char* put_fixed(char* out, T v) {
  v = to_little(v);
  std::memcpy(out, &v, sizeof(v));
  return out + sizeof(v);
}

template <class T>
inline T get_fixed(const char* in) {
  T v;
  std::memcpy(&v, in, sizeof(v));
  return to_little(v);
}

constexpr size_t kMaxVarintBytes = 10;

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

// Zig-zag maps small negative and positive deltas to small unsigned numbers.
inline uint64_t zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t unzigzag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

class ByteCursor {
 public:
  ByteCursor() = default;
  explicit ByteCursor(std::string_view bytes)
      : pos_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  size_t remaining() const { return static_cast<size_t>(end_ - pos_); }
  bool empty() const { return pos_ == end_; }
  const char* position() const { return pos_; }

  bool get_u8(uint8_t* v) {
    if (pos_ == end_) return false;
    *v = static_cast<uint8_t>(*pos_++);
    return true;
  }

  bool get_varint(uint64_t* v) {
    uint64_t result = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      if (pos_ == end_) return false;
      uint8_t byte = static_cast<uint8_t>(*pos_++);
      // The tenth byte may only carry the top bit of a 64-bit value.
      if (shift == 63 && byte > 1) return false;
      result |= uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) {
        if (byte == 0 && shift != 0) return false;  // non-canonical: redundant zero byte
        *v = result;
        return true;
      }
    }
    return false;
  }

  // A varint length followed by that many bytes; the view borrows the cursor's buffer.
  bool get_length_prefixed(std::string_view* v) {
    uint64_t n;
    if (!get_varint(&n) || n > remaining()) return false;
    *v = std::string_view(pos_, static_cast<size_t>(n));
    pos_ += n;
    return true;
  }

  bool get_bytes(size_t n, std::string_view* v) {
    if (n > remaining()) return false;
    *v = std::string_view(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  const char* pos_ = nullptr;
  const char* end_ = nullptr;
};

}  // namespace weasel::coding
