#pragma once
// Manifest: the durable record of which table files make up the database, and the counters
// that must survive restarts (next file number, last sequence, the oldest live WAL).
//
// The whole state is rewritten on every change, atomically: MANIFEST.tmp is written and
// synced, renamed over MANIFEST, and the directory is synced. A crash leaves either the old
// or the new state, never a mix. (An edit log would cost less per change; the file set
// changes once per flush or compaction, so a whole rewrite is cheap enough for now.)
//
// Format: fixed64 magic | fixed32 version | fixed32 body length | body | fixed64 XXH3(body)
// version 1: the body in clear; version 2: the body sealed with the DB's Cipher.
// body: varint64 next_file_number | varint64 last_sequence | varint64 log_number
//       | varint64 compaction_floor | varint32 table count | per table: varint32 level | varint64 number | varint64 bytes
//         | length-prefixed smallest internal key | length-prefixed largest internal key
//
// Ownership: plain values and functions.

#include <cstdint>
#include <string>
#include <vector>

#include "weaseldb/options.hpp"
#include "weaseldb/status.hpp"

namespace weaseldb::storage {

struct TableMeta {
  uint32_t level = 0;
  uint64_t number = 0;
  uint64_t bytes = 0;
  std::string smallest;  // internal keys
  std::string largest;
};

struct ManifestState {
  uint64_t next_file_number = 1;
  SequenceNumber last_sequence = 0;
  // WAL files numbered below this hold nothing that is not in a table.
  uint64_t log_number = 0;
  // The highest history floor a compaction used: history below it may be gone, so
  // DB::set_history_floor() refuses to go lower.
  SequenceNumber compaction_floor = 0;
  // Level 0 newest first, then deeper levels.
  std::vector<TableMeta> tables;
};

class Cipher;
class FileSystem;

// `cipher` may be null (no encryption).
Result<std::string> encode_manifest(const ManifestState& state, const Cipher* cipher);
Result<ManifestState> decode_manifest(std::string_view bytes, const Cipher* cipher);

// Writes `state` to dir/MANIFEST atomically and durably.
Status write_manifest(FileSystem& fs, const std::string& dir, const ManifestState& state,
                      const Cipher* cipher);
// Reads dir/MANIFEST; not_found when there is none.
Result<ManifestState> read_manifest(FileSystem& fs, const std::string& dir, const Cipher* cipher);

std::string manifest_path(const std::string& dir);
std::string wal_path(const std::string& dir, uint64_t number);
std::string table_path(const std::string& dir, uint64_t number);
std::string table_name(uint64_t number);

enum class FileKind { kWal, kTable, kOther };
// Recognizes "NNNNNN.wal" and "NNNNNN.sst" and returns their number.
FileKind parse_file_name(const std::string& name, uint64_t* number);

}  // namespace weaseldb::storage
