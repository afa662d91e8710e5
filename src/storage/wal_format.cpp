#include "storage/wal_format.hpp"

// Inlined: a call into the shared library's XXH3 costs more than hashing a short key.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <array>

namespace weaseldb::storage::wal {

namespace {

// CRC-8 (polynomial x^8 + x^2 + x + 1), initial value 0xff so that a zeroed header fails.
// A CRC of degree 8 detects every error burst of up to 8 bits: any single damaged byte.
constexpr std::array<uint8_t, 256> make_crc8_table() {
  std::array<uint8_t, 256> table{};
  for (int i = 0; i < 256; ++i) {
    auto crc = static_cast<uint8_t>(i);
    for (int bit = 0; bit < 8; ++bit) {
      crc = static_cast<uint8_t>((crc & 0x80) != 0 ? (crc << 1) ^ 0x07 : crc << 1);
    }
    table[static_cast<size_t>(i)] = crc;
  }
  return table;
}

// A byte at a time from a table (the bitwise loop cost ~130 instructions per WAL fragment).
uint8_t crc8(const uint8_t* bytes, size_t n) {
  static constexpr std::array<uint8_t, 256> kTable = make_crc8_table();
  uint8_t crc = 0xff;
  for (size_t i = 0; i < n; ++i) crc = kTable[crc ^ bytes[i]];
  return crc;
}

}  // namespace

uint8_t header_check(uint16_t length, uint8_t type) {
  const uint8_t bytes[3] = {static_cast<uint8_t>(length & 0xff), static_cast<uint8_t>(length >> 8),
                            type};
  return crc8(bytes, sizeof(bytes));
}

uint32_t fragment_checksum(std::string_view payload, uint8_t type) {
  uint64_t seed = (static_cast<uint64_t>(payload.size()) << 8) | type;
  return static_cast<uint32_t>(XXH3_64bits_withSeed(payload.data(), payload.size(), seed));
}

}  // namespace weaseldb::storage::wal
