#pragma once
// The write-ahead log's physical format (LevelDB's log format, with a checked header).
//
// A WAL file is a sequence of 32 KiB blocks. A logical record (a serialized WriteBatch) is cut
// into fragments that never cross a block boundary; each fragment has an 8-byte header:
//
//   fixed32 checksum | fixed16 length | uint8 type | uint8 header_check
//
// - type: kFull (a whole record), or kFirst, kMiddle..., kLast (a record in pieces).
// - header_check: CRC-8 of (length, type). It makes a damaged length or type detectable on
//   its own, so that a bad length is never mistaken for a record cut short by a crash.
// - checksum: the low 32 bits of XXH3-64 of the payload, seeded with (length << 8 | type).
// - When fewer than 8 bytes are left in a block, they are zero padding and the next fragment
//   starts at the next block.
//
// Ownership: constants and pure functions.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace weaseldb::storage::wal {

inline constexpr size_t kBlockBytes = 32 * 1024;
inline constexpr size_t kHeaderBytes = 8;
inline constexpr size_t kMaxFragmentBytes = kBlockBytes - kHeaderBytes;

enum class RecordType : uint8_t {
  kZero = 0,  // never written: zeros come from preallocation or a crash
  kFull = 1,
  kFirst = 2,
  kMiddle = 3,
  kLast = 4,
};
inline constexpr uint8_t kMaxRecordType = 4;

uint8_t header_check(uint16_t length, uint8_t type);
uint32_t fragment_checksum(std::string_view payload, uint8_t type);

}  // namespace weaseldb::storage::wal
