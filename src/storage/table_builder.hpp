#pragma once
// TableBuilder: writes one SSTable (format: table_format.hpp) from sorted entries.
//
// Contract
// - add() takes internal keys in strictly increasing order (asserted) with their values;
//   add_range_tombstone() takes range tombstones in increasing order of their begin internal
//   key. Either may be called any number of times, in any interleaving.
// - finish() writes the remaining blocks and the footer; it does not sync (the caller syncs
//   before recording the file in the manifest). After finish() or abandon() nothing else may
//   be called. The first failed write makes every later call return that error.
//
// Ownership: borrows the file, which must outlive the builder. Single-threaded.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "storage/block_builder.hpp"
#include "storage/bloom.hpp"
#include "storage/file.hpp"
#include "storage/table_format.hpp"
#include "weaseldb/options.hpp"

namespace weaseldb::storage {

struct TableOptions {
  size_t block_bytes = size_t{16} << 10;
  uint32_t restart_interval = 16;
  uint32_t bloom_bits_per_key = 10;  // 0: no filter
  Compression compression = Compression::kNone;
  int compression_level = 0;
  std::shared_ptr<const Cipher> cipher;  // null: not encrypted

  static TableOptions from(const Options& options);
};

class TableBuilder {
 public:
  // `file_number` names the file in the authenticated data of encrypted blocks.
  TableBuilder(const TableOptions& options, WritableFile* file, uint64_t file_number = 0);

  // How many keys are coming, when known (a memtable flush): the filter's hashes are then
  // allocated once, at their final size.
  void expect_keys(uint64_t keys);
  void add(std::string_view internal_key, std::string_view value);
  void add_range_tombstone(std::string_view begin_internal_key, std::string_view end_user_key);
  Status finish();
  void abandon() { closed_ = true; }

  Status status() const { return status_; }
  uint64_t entries() const { return entries_; }
  uint64_t range_tombstones() const { return range_tombstones_; }
  uint64_t file_bytes() const { return offset_; }
  // Smallest and largest internal keys over entries and range tombstones (a tombstone's end
  // counts as (end, kMaxSequenceNumber, kTypeForSeek): the range reaches up to it).
  const std::string& smallest_key() const { return smallest_; }
  const std::string& largest_key() const { return largest_; }

 private:
  void flush_data_block();
  BlockHandle write_block(std::string_view contents, bool compressible);
  void note_key(std::string_view internal_key);

  TableOptions options_;
  WritableFile* file_;
  uint64_t file_number_;
  std::string sealed_;
  Status status_;
  uint64_t offset_ = 0;
  BlockBuilder data_block_;
  BlockBuilder index_block_;
  BlockBuilder range_del_block_;
  std::unique_ptr<BloomBuilder> bloom_;
  std::string first_key_;  // of the entries (not the tombstones)
  std::string last_key_;
  // The index entry of a finished data block waits for the next key, so that its separator
  // can be shortened against it.
  bool pending_index_ = false;
  BlockHandle pending_handle_;
  std::string compressed_;   // compression output (only grows: never zero-filled again)
  std::string smallest_;
  std::string largest_;
  uint64_t entries_ = 0;
  uint64_t range_tombstones_ = 0;
  bool closed_ = false;
};

}  // namespace weaseldb::storage
