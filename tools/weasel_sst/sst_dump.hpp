#pragma once
// weasel_sst: prints what the storage engine wrote, for debugging and for operators.
//
//   weasel_sst [--verify] [--key-hex] [--key-file FILE] TABLE.sst
//       The footer, properties computed from the blocks (entries by type, blocks by
//       compression, key range), the index, every data block's entries with their internal
//       key parts (user key, sequence, type) and the range tombstones. --verify only checks
//       every block's checksum (and decodes it) and prints one line.
//   weasel_sst [--key-hex] [--key-file FILE] DIR | DIR/MANIFEST
//       The manifest: counters (next file number, last sequence, oldest live WAL, compaction
//       floor) and the file set per level with sizes and key ranges.
//   --key-hex prints keys as hex (default: printable bytes as is, others as \xNN); values are
//   always escaped and cut at 64 bytes. --key-file names the encryption key of an encrypted
//   database (Options::encryption_key_file).
//
// Exit codes: 0 success, 1 unreadable or corrupt input (the message names the file and the
// offset), 2 usage errors.
//
// run_weasel_sst() is the whole program (main() only forwards), so the command line is
// testable in process. Reads only: safe to run on a live database's immutable tables.
//
// Ownership: `out` and `err` are borrowed.

#include <cstdio>
#include <span>
#include <string_view>

namespace weaseldb::tools {

int run_weasel_sst(std::span<const std::string_view> args, std::FILE* out, std::FILE* err);

}  // namespace weaseldb::tools
