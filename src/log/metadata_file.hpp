#pragma once
// The local log store's metadata file, <dir>/METADATA: the LogStore metadata map plus the
// truncation floor, always rewritten whole and atomically: write METADATA.tmp, fsync it,
// rename it over METADATA, fsync the directory. A crash leaves either the old or the new file.
//
// File layout (little-endian): magic "WMET" (4), format 1 (2), reserved 0 (2),
// floor_version (8), entry_count (4), entry_count x (varint key_bytes, key, varint
// value_bytes, value) in key order, XXH3-64 of every byte before it (8).
//
// Contract
// - decode_metadata rejects anything that is not exactly an encoded LogMetadata (bad magic,
//   checksum, lengths, unsorted or duplicate keys, trailing bytes) with a corruption status.
// - load_metadata_file: a missing METADATA is an empty LogMetadata (a new store); a leftover
//   METADATA.tmp (a crash before the rename) is deleted.
// - store_metadata_file: on failure before the rename the old file is intact and
//   *uncertain is false; a failure after it (the directory fsync) leaves *uncertain true:
//   either file may be the durable one, and the caller must stop trusting its state.
//
// Ownership: plain functions; the caller owns the directory descriptor.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "core/status.hpp"
#include "log/file_ops.hpp"

namespace weasel {

struct LogMetadata {
  // Versions at or below the floor were truncated away (see LogStore::oldest_version()).
  uint64_t floor_version = 0;
  std::map<std::string, std::string, std::less<>> entries;
};

inline constexpr const char* kMetadataFileName = "METADATA";
inline constexpr const char* kMetadataTempFileName = "METADATA.tmp";

std::string encode_metadata(const LogMetadata& metadata);
Status decode_metadata(std::string_view bytes, LogMetadata* metadata);

Result<LogMetadata> load_metadata_file(FileOps& ops, const std::string& dir);
Status store_metadata_file(FileOps& ops, const std::string& dir, int dir_fd,
                           const LogMetadata& metadata, bool* uncertain);

}  // namespace weasel
