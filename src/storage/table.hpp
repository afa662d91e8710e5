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
#include "storage/block_cache.hpp"
#include "storage/file.hpp"
#include "storage/internal_iterator.hpp"
#include "storage/internal_key.hpp"
#include "storage/table_format.hpp"

namespace weaseldb::storage {

// What the tables of one DB share: the block cache (null: none), a count of bytes read from
// table files, and the key for encrypted tables (null: none; opening one is then an error).
struct TableContext {
  std::shared_ptr<BlockCache> cache;
  std::shared_ptr<std::atomic<uint64_t>> bytes_read;
  std::shared_ptr<const Cipher> cipher;
};

struct BlockReadOptions {
  bool verify_checksums = true;
  bool fill_cache = true;  // put blocks read from the file into the cache
};

class Table : public std::enable_shared_from_this<Table> {
 public:
  // `file_number` must be the one the table was built with when it is encrypted.
  static Result<std::shared_ptr<const Table>> open(std::unique_ptr<RandomAccessFile> file,
                                                   std::string name, TableContext context = {},
                                                   uint64_t file_number = 0);

  Result<LookupResult> get(const LookupKey& key, const BlockReadOptions& options,
                           std::string* value) const;
  SequenceNumber covering_tombstone(std::string_view user_key, SequenceNumber sequence) const;
  // False only when the bloom filter rules the key out.
  bool may_contain(std::string_view user_key) const;

  std::unique_ptr<InternalIterator> new_iterator(const BlockReadOptions& options) const;
  // Range tombstones: key() is the begin internal key, value() the end user key.
  std::unique_ptr<InternalIterator> new_range_tombstone_iterator() const;

  const std::string& name() const { return name_; }
  uint64_t file_bytes() const { return file_->size(); }
  size_t range_tombstone_count() const { return tombstones_.size(); }

  // The data block at `handle_bytes` (an encoded BlockHandle): from the cache, or read,
  // checked, parsed (and cached).
  Result<std::shared_ptr<const Block>> read_data_block(std::string_view handle_bytes,
                                                       const BlockReadOptions& options) const;

 private:
  struct RangeTombstone {
    std::string begin;
    std::string end;
    SequenceNumber sequence;
  };
  class Iter;

  Table(std::unique_ptr<RandomAccessFile> file, std::string name, TableContext context,
        uint64_t file_number)
      : file_(std::move(file)),
        name_(std::move(name)),
        context_(std::move(context)),
        file_number_(file_number),
        cache_id_(BlockCache::next_table_id()) {}
  BlockSource source() const {
    return {file_.get(), name_, file_number_, encrypted_ ? context_.cipher.get() : nullptr};
  }
  Status load_metadata(const Footer& footer);
  Status load_range_tombstones(const BlockHandle& handle);

  std::unique_ptr<RandomAccessFile> file_;
  std::string name_;
  TableContext context_;
  uint64_t file_number_;
  bool encrypted_ = false;
  uint64_t cache_id_;
  std::shared_ptr<const Block> index_;
  std::shared_ptr<const Block> range_del_;  // null when the table has none
  std::string filter_;                      // empty when the table has none
  std::vector<RangeTombstone> tombstones_;  // ordered by begin
};

}  // namespace weaseldb::storage
