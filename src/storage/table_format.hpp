#pragma once
// The SSTable file format.
//
//   data block 0 | trailer          (sorted internal key -> value; block_builder.hpp)
//   ...
//   data block n | trailer
//   filter block | trailer          (bloom.hpp, over user keys; absent when size 0)
//   range-del block | trailer       (begin internal key -> end user key; absent when size 0)
//   index block | trailer           (separator >= last key of block i and < first of i+1
//                                    -> BlockHandle of data block i)
//   footer                          (fixed kFooterBytes)
//
// Block trailer: uint8 compression | fixed64 checksum, the checksum being XXH3-64 of the
// stored (possibly compressed) bytes seeded with the compression byte: every stored byte,
// trailer included, is covered. In an encrypted table (footer flag) the stored bytes are the
// compressed block sealed by Cipher, authenticated with (file number, offset, compression)
// so that blocks cannot be moved; the checksum still tells damage from a wrong key.
// Footer: 3 x (fixed64 offset, fixed64 size) for index, filter, range-del | fixed32
// format_version | fixed32 flags | fixed64 checksum (XXH3-64 of the bytes before it) |
// fixed64 magic.
// BlockHandle in the index: varint64 offset | varint64 size (size excludes the trailer).
//
// Ownership: plain values and functions.

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/block.hpp"
#include "storage/cipher.hpp"
#include "storage/file.hpp"
#include "weaseldb/options.hpp"
#include "weaseldb/status.hpp"

namespace weaseldb::storage {

inline constexpr size_t kBlockTrailerBytes = 9;
inline constexpr uint64_t kTableMagic = 0x31544c4553414557ULL;  // "WEASELT1" little-endian
inline constexpr uint32_t kTableFormatVersion = 1;
inline constexpr uint32_t kTableFlagEncrypted = 1;  // every block sealed with AES-256-GCM

struct BlockHandle {
  uint64_t offset = 0;
  uint64_t size = 0;

  void encode_to(std::string* out) const;
  // false when the input is not a handle.
  bool decode_from(std::string_view* in);
};

struct Footer {
  static constexpr size_t kEncodedBytes = 3 * 16 + 4 + 4 + 8 + 8;

  BlockHandle index;
  BlockHandle filter;
  BlockHandle range_del;
  uint32_t format_version = kTableFormatVersion;
  uint32_t flags = 0;

  std::string encode() const;
  static Result<Footer> decode(std::string_view bytes);
};

uint64_t block_checksum(std::string_view stored, uint8_t compression);

// Appends `trailer` for a stored block.
void append_block_trailer(std::string* out, std::string_view stored, Compression compression);

// What an encrypted block is bound to.
std::string block_aad(uint64_t file_number, uint64_t offset, uint8_t compression);

// Where a block is read from; `cipher` is set for an encrypted table.
struct BlockSource {
  const RandomAccessFile* file;
  std::string_view file_name;
  uint64_t file_number = 0;
  const Cipher* cipher = nullptr;
};

// Reads the block at `handle`, checks its trailer (the checksum only if verify_checksum),
// decrypts and uncompresses it. Errors name the file and the offset.
Result<std::string> read_block(const BlockSource& source, const BlockHandle& handle,
                               bool verify_checksum);
// The same into a buffer the block can own (the data block path: no zero-fill, no copy of an
// uncompressed block).
Result<BlockBytes> read_block_bytes(const BlockSource& source, const BlockHandle& handle,
                                    bool verify_checksum);

}  // namespace weaseldb::storage
