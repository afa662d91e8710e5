#pragma once
// Table: reads one SSTable (format: table_format.hpp).
//
// Contract
// - open() reads and verifies the footer, the index block, the filter block and the range
//   tombstones (always checksummed): a table that opens has sound metadata. Data blocks are
//   read on demand, their checksums verified unless the caller opts out.
// - get() finds the newest point entry of a user key at or below a sequence (like
//   MemTable::get); covering_tombstone() answers for range tombstones.
// - Every error carries the table's name; damaged bytes are corruption, never a crash.
// - Safe to use from several threads at once (all state is immutable after open).
//
// Ownership: a Table owns its file. Iterators share ownership of the table (shared_ptr) and
// of the block they are in, so a table dropped from the file set stays readable for them.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/block.hpp"
#include "storage/file.hpp"
#include "storage/internal_iterator.hpp"
#include "storage/internal_key.hpp"
#include "storage/table_format.hpp"

namespace weaseldb::storage {

class Table : public std::enable_shared_from_this<Table> {
 public:
  static Result<std::shared_ptr<const Table>> open(std::unique_ptr<RandomAccessFile> file,
                                                   std::string name);

  Result<LookupResult> get(const LookupKey& key, bool verify_checksums, std::string* value) const;
  SequenceNumber covering_tombstone(std::string_view user_key, SequenceNumber sequence) const;
  // False only when the bloom filter rules the key out.
  bool may_contain(std::string_view user_key) const;

  std::unique_ptr<InternalIterator> new_iterator(bool verify_checksums) const;
  // Range tombstones: key() is the begin internal key, value() the end user key.
  std::unique_ptr<InternalIterator> new_range_tombstone_iterator() const;

  const std::string& name() const { return name_; }
  uint64_t file_bytes() const { return file_->size(); }
  size_t range_tombstone_count() const { return tombstones_.size(); }

  // Reads and parses the data block at `handle_bytes` (an encoded BlockHandle).
  Result<std::shared_ptr<const Block>> read_data_block(std::string_view handle_bytes,
                                                       bool verify_checksums) const;

 private:
  struct RangeTombstone {
    std::string begin;
    std::string end;
    SequenceNumber sequence;
  };
  class Iter;

  Table(std::unique_ptr<RandomAccessFile> file, std::string name)
      : file_(std::move(file)), name_(std::move(name)) {}
  Status load_metadata(const Footer& footer);
  Status load_range_tombstones(const BlockHandle& handle);

  std::unique_ptr<RandomAccessFile> file_;
  std::string name_;
  std::shared_ptr<const Block> index_;
  std::shared_ptr<const Block> range_del_;  // null when the table has none
  std::string filter_;                      // empty when the table has none
  std::vector<RangeTombstone> tombstones_;  // ordered by begin
};

}  // namespace weaseldb::storage
