// Table-driven base64; see base64.hpp for the contract.
//
// Decoding: four 256-entry tables map a character at position 0..3 of a quad straight to its
// bits in the little-endian 24-bit group, so a quad is 4 loads and 3 ORs, with no shifts. An
// invalid character maps to a value with bit 24 set, so validity is one comparison per group
// of quads instead of a branch per character. On x86-64 CPUs with AVX2, long inputs first go
// through a vector loop (runtime dispatch). The slow path (locate_error) only runs on invalid
// input, to name the offending offset.

#include "core/base64.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/assert.hpp"

namespace weasel {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the decode tables and the wide stores assume a little-endian target");

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr uint32_t kBadBit = uint32_t{1} << 24;
constexpr uint32_t kBad = 0x01FFFFFF;

constexpr int sextet(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

struct DecodeTables {
  alignas(64) std::array<std::array<uint32_t, 256>, 4> at;  // at[position in quad][char]
};

// Output bytes of a quad abcd: b0 = a<<2 | b>>4, b1 = (b&15)<<4 | c>>2, b2 = (c&3)<<6 | d,
// stored little-endian as b0 | b1<<8 | b2<<16.
constexpr DecodeTables make_decode_tables() {
  DecodeTables t{};
  for (int c = 0; c < 256; ++c) {
    int v = sextet(static_cast<unsigned char>(c));
    if (v < 0) {
      for (auto& table : t.at) table[c] = kBad;
      continue;
    }
    uint32_t u = static_cast<uint32_t>(v);
    t.at[0][c] = u << 2;
    t.at[1][c] = (u >> 4) | ((u & 0xF) << 12);
    t.at[2][c] = ((u >> 2) << 8) | ((u & 0x3) << 22);
    t.at[3][c] = u << 16;
  }
  return t;
}

constexpr DecodeTables kDecode = make_decode_tables();

// Two output characters per 12 input bits: halves the lookups of a 64-entry table.
constexpr std::array<std::array<char, 2>, 4096> make_encode_pairs() {
  std::array<std::array<char, 2>, 4096> t{};
  for (int i = 0; i < 4096; ++i) {
    t[i] = {kAlphabet[i >> 6], kAlphabet[i & 63]};
  }
  return t;
}

constexpr auto kEncodePairs = make_encode_pairs();

inline uint32_t decode_quad(const unsigned char* p) {
  return kDecode.at[0][p[0]] | kDecode.at[1][p[1]] | kDecode.at[2][p[2]] | kDecode.at[3][p[3]];
}

// The offset of the first character at which `in` stops being a prefix of some valid
// encoding; in.size() when `in` is such a prefix but incomplete, in.size() + 1 when `in` is
// valid. Slow and simple on purpose: it is the specification the fast path must agree with.
size_t locate_error(std::string_view in) {
  const size_t n = in.size();
  size_t padding_end = 0;  // non-zero once padding started: the end of its quad
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    if (padding_end != 0) {
      if (i < padding_end && c == '=') continue;
      return i;  // data after padding, or more than the quad needs
    }
    if (c != '=') {
      if (sextet(c) < 0) return i;
      continue;
    }
    const size_t pos = i % 4;
    if (pos < 2) return i;  // a quad carries at least one byte: two data characters
    // Canonical form: the bits of the last data character that padding drops must be zero.
    const int dropped_mask = pos == 2 ? 0xF : 0x3;
    if ((sextet(static_cast<unsigned char>(in[i - 1])) & dropped_mask) != 0) return i;
    padding_end = i - pos + 4;
  }
  return n % 4 == 0 ? n + 1 : n;
}

#if defined(__x86_64__)
#define WEASEL_BASE64_AVX2 1

// AVX2: 32 characters to 24 bytes per step (W. Mula and D. Lemire, "Faster Base64 Encoding and
// Decoding Using AVX2 Instructions", ACM TOW 2018). Validation: a character is invalid exactly
// when lut_lo[low nibble] & lut_hi[high nibble] != 0. Translation adds a per-class offset
// ('/' gets its own). Packing: two multiply-adds merge 4 sextets into 24 bits per 32-bit lane.
// Decodes whole 8-quad blocks from quad 0 while the 32-byte store stays inside a buffer of
// 3 * (body_quads + 1) bytes; returns the quads done, with `invalid` set if a block had a bad
// character (the caller then locates it with the slow path).
__attribute__((target("avx2"))) size_t decode_blocks_avx2(const unsigned char* s, unsigned char* o,
                                                          size_t body_quads, bool& invalid) {
  const __m256i lut_lo =
      _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B,
                       0x1B, 0x1B, 0x1A, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                       0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
  const __m256i lut_hi =
      _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10,
                       0x10, 0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10,
                       0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
  const __m256i lut_roll =
      _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 19, 4, -65,
                       -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  // pshufb reads only bit 7 and the low nibble of an index, so 0x2F masks nibbles as 0x0F
  // does, and doubles as the constant for '/'.
  const __m256i mask_2f = _mm256_set1_epi8(0x2F);
  const __m256i pack_bytes =
      _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6, 5, 4, 10,
                       9, 8, 14, 13, 12, -1, -1, -1, -1);
  const __m256i pack_lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
  size_t q = 0;
  for (; q + 10 <= body_quads; q += 8) {
    __m256i str = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 4 * q));
    const __m256i hi_nibbles = _mm256_and_si256(_mm256_srli_epi32(str, 4), mask_2f);
    const __m256i lo_nibbles = _mm256_and_si256(str, mask_2f);
    const __m256i hi = _mm256_shuffle_epi8(lut_hi, hi_nibbles);
    const __m256i lo = _mm256_shuffle_epi8(lut_lo, lo_nibbles);
    if (!_mm256_testz_si256(lo, hi)) {
      invalid = true;
      return q;
    }
    const __m256i eq_2f = _mm256_cmpeq_epi8(str, mask_2f);
    const __m256i roll = _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(eq_2f, hi_nibbles));
    str = _mm256_add_epi8(str, roll);
    // 00aaaaaa 00bbbbbb 00cccccc 00dddddd -> aaaaaabb bbbbcccc ccdddddd (per 32-bit lane).
    const __m256i pairs = _mm256_maddubs_epi16(str, _mm256_set1_epi32(0x01400140));
    __m256i out = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x00011000));
    out = _mm256_shuffle_epi8(out, pack_bytes);
    out = _mm256_permutevar8x32_epi32(out, pack_lanes);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 3 * q), out);
  }
  return q;
}

bool detect_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

// Initialized before main(); a decode during static initialization may still see false and
// take the (equally correct) scalar path.
const bool g_has_avx2 = detect_avx2();
#endif

ptrdiff_t fail(std::string_view in, size_t* error_offset) {
  const size_t offset = locate_error(in);
  WEASEL_ASSERT_MSG(offset <= in.size(), "base64 fast and slow paths disagree");
  if (error_offset != nullptr) *error_offset = offset;
  return -1;
}

}  // namespace

ptrdiff_t base64_decode(std::string_view in, char* out, size_t* error_offset) {
  const size_t n = in.size();
  if (n % 4 != 0) return fail(in, error_offset);
  if (n == 0) return 0;
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  auto* o = reinterpret_cast<unsigned char*>(out);
  // Every quad but the last one, which may carry padding.
  const size_t body_quads = n / 4 - 1;
  size_t q = 0;
#ifdef WEASEL_BASE64_AVX2
  if (g_has_avx2 && body_quads >= 10) {
    bool invalid = false;
    q = decode_blocks_avx2(s, o, body_quads, invalid);
    if (invalid) return fail(in, error_offset);
  }
#endif
  // Two quads per step: one check and one 8-byte store per 6 output bytes. The store's two
  // extra bytes stay inside the buffer (the last quad's 3 bytes follow) and get overwritten.
  for (; q + 2 <= body_quads; q += 2) {
    const uint32_t x0 = decode_quad(s + 4 * q);
    const uint32_t x1 = decode_quad(s + 4 * q + 4);
    if ((x0 | x1) >= kBadBit) [[unlikely]]
      return fail(in, error_offset);
    const uint64_t word = uint64_t{x0} | (uint64_t{x1} << 24);
    std::memcpy(o + 3 * q, &word, sizeof(word));
  }
  if (q < body_quads) {
    const uint32_t x = decode_quad(s + 4 * q);
    if (x >= kBadBit) return fail(in, error_offset);
    std::memcpy(o + 3 * q, &x, sizeof(x));  // 4 bytes: the last quad still follows
    ++q;
  }
  const unsigned char* p = s + n - 4;
  unsigned char* dst = o + 3 * q;
  size_t tail_bytes;
  uint32_t x;
  if (p[3] != '=') {
    x = decode_quad(p);
    tail_bytes = 3;
  } else if (p[2] != '=') {
    // "xyz=": the two low bits of z are dropped and must be zero (byte 2 empty).
    x = kDecode.at[0][p[0]] | kDecode.at[1][p[1]] | kDecode.at[2][p[2]];
    x |= (x & 0x00FF0000) != 0 ? kBadBit : 0;
    tail_bytes = 2;
  } else {
    // "xy==": the four low bits of y are dropped and must be zero (byte 1 empty).
    x = kDecode.at[0][p[0]] | kDecode.at[1][p[1]];
    x |= (x & 0x0000FF00) != 0 ? kBadBit : 0;
    tail_bytes = 1;
  }
  if (x >= kBadBit) return fail(in, error_offset);
  dst[0] = static_cast<unsigned char>(x);
  if (tail_bytes > 1) dst[1] = static_cast<unsigned char>(x >> 8);
  if (tail_bytes > 2) dst[2] = static_cast<unsigned char>(x >> 16);
  return static_cast<ptrdiff_t>(3 * q + tail_bytes);
}

void base64_encode(std::string_view in, char* out) {
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  const size_t n = in.size();
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{s[i]} << 16) | (uint32_t{s[i + 1]} << 8) | s[i + 2];
    std::memcpy(out, kEncodePairs[v >> 12].data(), 2);
    std::memcpy(out + 2, kEncodePairs[v & 0xFFF].data(), 2);
    out += 4;
  }
  const size_t rest = n - i;
  if (rest == 0) return;
  uint32_t v = uint32_t{s[i]} << 16;
  if (rest == 2) v |= uint32_t{s[i + 1]} << 8;
  out[0] = kAlphabet[v >> 18];
  out[1] = kAlphabet[(v >> 12) & 63];
  out[2] = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
  out[3] = '=';
}

void base64_encode_append(std::string& out, std::string_view in) {
  const size_t old_size = out.size();
  out.resize(old_size + base64_encoded_size(in.size()));
  base64_encode(in, out.data() + old_size);
}

}  // namespace weasel
