// Unit tests for the strict base64 codec (src/core/base64.hpp).

#include "core/base64.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace weasel {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct Decoded {
  bool ok;
  std::string bytes;
  size_t error_offset;
};

// Decodes into an exactly sized heap buffer (so ASan catches any write past the bound).
Decoded decode(std::string_view in) {
  std::vector<char> out(base64_decoded_size_max(in.size()));
  size_t error_offset = SIZE_MAX;
  const ptrdiff_t n = base64_decode(in, out.data(), &error_offset);
  if (n < 0) return {false, {}, error_offset};
  REQUIRE(static_cast<size_t>(n) <= out.size());
  return {true, std::string(out.data(), static_cast<size_t>(n)), SIZE_MAX};
}

std::string encode(std::string_view in) {
  std::string out(base64_encoded_size(in.size()), '\0');
  base64_encode(in, out.data());
  return out;
}

// Obviously correct (slow) strict decoder, the model the fast one is checked against.
std::optional<std::string> reference_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  if (!in.empty() && in.back() == '=') padding = in.size() >= 2 && in[in.size() - 2] == '=' ? 2 : 1;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < in.size() - padding; ++i) {
    const size_t v = kAlphabet.find(in[i]);
    if (v == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical dropped bits
  return out;
}

// A prefix of a valid encoding can be completed with 'A' (zero bits) and '=' characters.
bool is_valid_prefix(std::string_view prefix) {
  const size_t missing = (4 - prefix.size() % 4) % 4;
  for (unsigned mask = 0; mask < (1u << missing); ++mask) {
    std::string candidate(prefix);
    for (size_t i = 0; i < missing; ++i) candidate.push_back((mask >> i) & 1 ? '=' : 'A');
    if (reference_decode(candidate)) return true;
  }
  return false;
}

// The documented error offset, derived from the definition.
size_t reference_error_offset(std::string_view in) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (!is_valid_prefix(in.substr(0, i + 1))) return i;
  }
  return in.size();
}

std::string reference_encode(std::string_view in) {
  std::string out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<unsigned char>(in[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(in[i + 1])} << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  if (i < in.size()) {
    uint32_t v = uint32_t{static_cast<unsigned char>(in[i])} << 16;
    if (i + 1 < in.size()) v |= uint32_t{static_cast<unsigned char>(in[i + 1])} << 8;
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

TEST_CASE("base64: RFC 4648 section 10 test vectors") {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& vector : vectors) {
    const std::string_view plain = vector.first;  // clang 14 cannot capture bindings
    const std::string_view encoded = vector.second;
    CAPTURE(plain);
    CHECK(encode(plain) == encoded);
    const Decoded d = decode(encoded);
    REQUIRE(d.ok);
    CHECK(d.bytes == plain);
  }
}

TEST_CASE("base64: sizes") {
  CHECK(base64_encoded_size(0) == 0);
  CHECK(base64_encoded_size(1) == 4);
  CHECK(base64_encoded_size(3) == 4);
  CHECK(base64_encoded_size(4) == 8);
  CHECK(base64_decoded_size_max(0) == 0);
  CHECK(base64_decoded_size_max(4) == 3);
  CHECK(base64_decoded_size_max(8) == 6);
  CHECK(base64_decoded_size_max(5) == 6);  // invalid length: still a safe bound
  for (size_t len = 0; len < 100; ++len) {
    CHECK(base64_decoded_size_max(base64_encoded_size(len)) >= len);
  }
}

TEST_CASE("base64: invalid inputs name the first bad character") {
  const std::pair<std::string_view, size_t> cases[] = {
      {"Zm9v!g==", 4},                    // bad character
      {"Zm9vYg=!", 7},                    // bad character in padding position
      {"Zm-v", 2},                        // URL-safe alphabet is not standard base64
      {"Zm_v", 2},                        //
      {"Zm9v\x80", 4},                    // non-ASCII
      {std::string_view("Zm\0v", 4), 2},  // NUL
      {"Zg", 2},                          // missing padding
      {"Zm8", 3},                         //
      {"Zm9vYg", 6},                      //
      {"Zg=", 3},                         // incomplete padding
      {"=", 0},                           // padding cannot start a quad
      {"====", 0},                        //
      {"Z===", 1},                        //
      {"Zg==Zm9v", 4},                    // padding in the middle: the data after it is the error
      {"Zm8=Zm9v", 4},                    //
      {"Zg=A", 3},                        //
      {"Zm9vZg==Zg==", 8},                //
      {"Zm8==", 4},                       // more padding than the quad needs
      {"QR==", 2},                        // non-canonical: padding would drop set bits
      {"QUF=", 3},                        //
      {"Zh==", 2},                        //
      {"Zm9=", 3},                        //
      {"Zm9v Yg==", 4},                   // whitespace
      {" Zm9v", 0},                       //
      {"Zm9v\n", 4},                      //
      {"Zm9v\r\nYg==", 4},                //
      {"Zm9vYg==\n", 8},                  //
      {"Zm9v\tYmFy", 4},                  //
  };
  for (const auto& test_case : cases) {
    const std::string_view input = test_case.first;
    const size_t offset = test_case.second;
    CAPTURE(input);
    const Decoded d = decode(input);
    CHECK_FALSE(d.ok);
    CHECK(d.error_offset == offset);
    CHECK(reference_error_offset(input) == offset);
    CHECK_FALSE(reference_decode(input).has_value());
  }
  // Canonical twins of the non-canonical cases are fine.
  CHECK(decode("QQ==").bytes == "A");
  CHECK(decode("QUE=").bytes == "AA");
  // A null error_offset is allowed.
  char out[8];
  CHECK(base64_decode("Zg", out) == -1);
  CHECK(base64_decode("Zg==", out, nullptr) == 1);
}

TEST_CASE("base64: every non-alphabet byte is rejected at every position") {
  // 16 characters: the fast path reads them as one double quad, one single quad and the
  // last quad, so every code path sees every bad byte.
  const std::string valid = "Zm9vYmFyYmF6cXV4";
  REQUIRE(decode(valid).ok);
  for (size_t pos = 0; pos < valid.size(); ++pos) {
    for (int c = 0; c < 256; ++c) {
      if (kAlphabet.find(static_cast<char>(c)) != std::string_view::npos) continue;
      std::string bad = valid;
      bad[pos] = static_cast<char>(c);
      const Decoded d = decode(bad);
      CHECK_FALSE(d.ok);
      CHECK(d.error_offset == pos);
    }
  }
}

TEST_CASE("base64: every byte at every position of a long input (vector and scalar paths)") {
  // 128 characters: vector blocks (on CPUs that have them), then the scalar loops and the tail.
  std::string bytes;
  for (int i = 0; i < 96; ++i) bytes.push_back(static_cast<char>(i * 37 + 11));
  const std::string valid = encode(bytes);
  REQUIRE(valid.size() == 128);
  REQUIRE(decode(valid).bytes == bytes);
  for (size_t pos = 0; pos < valid.size(); ++pos) {
    for (int c = 0; c < 256; ++c) {
      std::string changed = valid;
      changed[pos] = static_cast<char>(c);
      const Decoded d = decode(changed);
      const auto ref = reference_decode(changed);
      REQUIRE(d.ok == ref.has_value());
      if (d.ok) {
        REQUIRE(d.bytes == *ref);
      } else {
        REQUIRE(d.error_offset == reference_error_offset(changed));
      }
    }
  }
}

TEST_CASE("base64: exhaustive agreement with the reference decoder on short inputs") {
  const std::string_view letters = "AQRw=*";  // valid, dropped-bit variants, padding, junk
  size_t checked = 0;
  for (size_t len = 0; len <= 8; ++len) {
    size_t combinations = 1;
    for (size_t i = 0; i < len; ++i) combinations *= letters.size();
    std::string input(len, ' ');
    for (size_t index = 0; index < combinations; ++index) {
      size_t rest = index;
      for (char& c : input) {
        c = letters[rest % letters.size()];
        rest /= letters.size();
      }
      const Decoded d = decode(input);
      const auto ref = reference_decode(input);
      REQUIRE_MESSAGE(d.ok == ref.has_value(), input);
      if (d.ok) {
        REQUIRE_MESSAGE(d.bytes == *ref, input);
        REQUIRE_MESSAGE(encode(d.bytes) == input, input);  // canonical: one spelling only
      } else {
        REQUIRE_MESSAGE(d.error_offset == reference_error_offset(input), input);
      }
      ++checked;
    }
  }
  CHECK(checked == 1 + 6 + 36 + 216 + 1296 + 7776 + 46656 + 279936 + 1679616);
}

TEST_CASE("base64: round trips of random data of every length 0..300") {
  std::mt19937_64 rng(42);
  for (size_t len = 0; len <= 300; ++len) {
    for (int trial = 0; trial < 4; ++trial) {
      std::string data(len, '\0');
      for (char& c : data) c = static_cast<char>(rng());
      const std::string encoded = encode(data);
      REQUIRE(encoded == reference_encode(data));
      const Decoded d = decode(encoded);
      REQUIRE(d.ok);
      REQUIRE(d.bytes == data);
    }
  }
}

TEST_CASE("base64: all one- and two-byte strings round trip") {
  for (int a = 0; a < 256; ++a) {
    const std::string one(1, static_cast<char>(a));
    REQUIRE(decode(encode(one)).bytes == one);
    for (int b = 0; b < 256; ++b) {
      const std::string two{static_cast<char>(a), static_cast<char>(b)};
      const std::string encoded = encode(two);
      REQUIRE(encoded == reference_encode(two));
      REQUIRE(decode(encoded).bytes == two);
    }
  }
}

TEST_CASE("base64: decode never writes past base64_decoded_size_max") {
  std::mt19937_64 rng(7);
  for (size_t len = 0; len <= 200; ++len) {
    std::string data(len, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    const std::string encoded = encode(data);
    const size_t max = base64_decoded_size_max(encoded.size());
    std::vector<char> out(max + 16, '\x5a');
    REQUIRE(base64_decode(encoded, out.data()) == static_cast<ptrdiff_t>(len));
    for (size_t i = max; i < out.size(); ++i) REQUIRE(out[i] == '\x5a');
  }
}

TEST_CASE("base64: encode_append appends") {
  std::string out = "prefix:";
  base64_encode_append(out, "foobar");
  CHECK(out == "prefix:Zm9vYmFy");
  base64_encode_append(out, "");
  CHECK(out == "prefix:Zm9vYmFy");
  base64_encode_append(out, "f");
  CHECK(out == "prefix:Zm9vYmFyZg==");
}

}  // namespace
}  // namespace weasel
