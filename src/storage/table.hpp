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
// - A table opened with open_file() reads through the DB's TableCache, which may close its
//   descriptor between reads (an iterator holds a lease on it while it lives). Its file is
//   deleted when the last reference to a table marked obsolete goes (a compaction replaced
//   it), so no reader can find the file missing.
//
// Ownership: a Table owns its file (open()) or its path (open_file()). Iterators share
// ownership of the table (shared_ptr) and of the block they are in, so a table dropped from
// the file set stays readable for them.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/block.hpp"
#include "storage/block_cache.hpp"
#include "storage/bloom.hpp"
#include "storage/file.hpp"
#include "storage/table_cache.hpp"
#include "storage/internal_iterator.hpp"
#include "storage/internal_key.hpp"
#include "storage/table_format.hpp"
#include "storage/table_index.hpp"

namespace weaseldb::storage {

// What the tables of one DB share: the block cache (null: none), counts of bytes read from
// table files (by user reads and by compactions; null: not counted), the key for encrypted
// tables (null: none; opening one is then an error) and the open files (open_file() only).
struct TableContext {
  std::shared_ptr<BlockCache> cache;
  std::shared_ptr<std::atomic<uint64_t>> bytes_read;
  std::shared_ptr<const Cipher> cipher;
  std::shared_ptr<std::atomic<uint64_t>> compaction_bytes_read;
  std::shared_ptr<TableCache> files;
};

struct BlockReadOptions {
  bool verify_checksums = true;
  bool fill_cache = true;  // put blocks read from the file into the cache
  bool for_compaction = false;  // which byte counter the reads go to
};

class Table : public std::enable_shared_from_this<Table> {
 public:
  // `file_number` must be the one the table was built with when it is encrypted.
  static Result<std::shared_ptr<const Table>> open(std::unique_ptr<RandomAccessFile> file,
                                                   std::string name, TableContext context = {},
                                                   uint64_t file_number = 0);
  // Opens the table at `path` through context.files (which must be set).
  static Result<std::shared_ptr<const Table>> open_file(TableContext context, std::string path,
                                                        std::string name, uint64_t file_number);
  ~Table();

  Result<LookupResult> get(const LookupKey& key, const BlockReadOptions& options,
                           std::string* value) const;
  SequenceNumber covering_tombstone(std::string_view user_key, SequenceNumber sequence) const;
  // False only when the bloom filter rules the key out.
  bool may_contain(std::string_view user_key) const;

  std::unique_ptr<InternalIterator> new_iterator(const BlockReadOptions& options) const;
  // Range tombstones: key() is the begin internal key, value() the end user key.
  std::unique_ptr<InternalIterator> new_range_tombstone_iterator() const;

  const std::string& name() const { return name_; }
  uint64_t file_bytes() const { return file_bytes_; }
  size_t range_tombstone_count() const { return tombstones_.size(); }
  // The file is deleted once the last reference to this table is gone (open_file() only).
  void mark_obsolete() const { obsolete_.store(true, std::memory_order_relaxed); }

  // The open file: pinned (open()) or a lease from the table cache.
  Result<std::shared_ptr<const RandomAccessFile>> file() const;

  // The data block at `handle`: from the cache, or read, checked, parsed (and cached).
  // Reads from `file` when given (a lease the caller holds).
  Result<std::shared_ptr<const Block>> read_data_block(const BlockHandle& handle,
                                                       const BlockReadOptions& options,
                                                       const RandomAccessFile* file = nullptr) const;

 private:
  struct RangeTombstone {
    std::string begin;
    std::string end;
    SequenceNumber sequence;
  };
  class Iter;

  Table(std::shared_ptr<const RandomAccessFile> pinned, std::string path, std::string name,
        TableContext context, uint64_t file_number)
      : pinned_(std::move(pinned)),
        path_(std::move(path)),
        name_(std::move(name)),
        context_(std::move(context)),
        file_number_(file_number),
        cache_id_(BlockCache::next_table_id()) {}
  static Result<std::shared_ptr<const Table>> open_from(std::shared_ptr<Table> table,
                                                        const RandomAccessFile& file);
  BlockSource source(const RandomAccessFile* file) const {
    return {file, name_, file_number_, encrypted_ ? context_.cipher.get() : nullptr};
  }
  Status load_metadata(const RandomAccessFile& file, const Footer& footer);
  Status load_range_tombstones(const RandomAccessFile& file, const BlockHandle& handle);

  std::shared_ptr<const RandomAccessFile> pinned_;  // null: leased from context_.files
  std::string path_;                                // open_file() only
  uint64_t file_bytes_ = 0;
  mutable std::atomic<bool> obsolete_{false};
  std::string name_;
  TableContext context_;
  uint64_t file_number_;
  bool encrypted_ = false;
  uint64_t cache_id_;
  TableIndex index_;  // the index block, decoded once
  std::shared_ptr<const Block> range_del_;  // null when the table has none
  std::string filter_storage_;              // holds filter_'s bytes, 64-byte aligned
  BloomFilter filter_;                      // lets every key through when the table has none
  std::vector<RangeTombstone> tombstones_;  // ordered by begin
};

}  // namespace weaseldb::storage
