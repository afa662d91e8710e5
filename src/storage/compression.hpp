#pragma once
// Block compression: none, lz4, zstd, snappy (Options::compression).
//
// Contract
// - compress() returns false when the codec fails or does not shrink the input by 1/8; the
//   caller then stores the block uncompressed.
// - lz4 and zstd payloads start with varint32(uncompressed size); snappy carries its own.
// - uncompress() never trusts its input: a size above kMaxUncompressedBytes, a codec error or
//   a size mismatch is corruption. An unknown type is corruption too.
//
// Ownership: plain functions over caller buffers.

#include <cstdint>
#include <string>
#include <string_view>

#include "weaseldb/options.hpp"
#include "weaseldb/status.hpp"

namespace weaseldb::storage {

inline constexpr size_t kMaxUncompressedBytes = size_t{1} << 30;

bool is_known_compression(uint8_t type);
const char* compression_name(Compression type);

bool compress(Compression type, int level, std::string_view input, std::string* output);
// The same into *buffer, which only grows (lz4: the bytes past the output are not zero-filled
// again for every block): the compressed bytes, or an empty view where compress() would
// return false.
std::string_view compress_into(Compression type, int level, std::string_view input,
                               std::string* buffer);
Status uncompress(Compression type, std::string_view input, std::string* output);
// The same in two steps, for callers that own an uninitialized buffer (the block read path,
// which so skips zero-filling a string): the size the payload announces, then the bytes.
Result<size_t> uncompressed_size(Compression type, std::string_view input);
// `size` must be what uncompressed_size() returned for this input.
Status uncompress_to(Compression type, std::string_view input, char* out, size_t size);

}  // namespace weaseldb::storage
