#pragma once
// Block: a parsed SSTable block (format: block_builder.hpp) and its iterator.
//
// Contract
// - parse() takes the block's uncompressed, checksum-verified bytes and checks the restart
//   array (count fits, offsets inside the entries and strictly increasing); anything else is
//   corruption. It never trusts the bytes further: the iterator bounds-checks every entry
//   while decoding and turns what does not parse into corruption (status()), never a crash,
//   so a block from a damaged or hostile file is safe to walk (fuzzed: fuzz_block_reader).
// - Keys are internal keys: an entry whose key is shorter than the 8-byte trailer is
//   corruption. Iterators compare with compare_internal_keys.
//
// Ownership: a Block owns its bytes. Iterators from new_iterator() share ownership of the
// block (shared_ptr), so the views they return stay valid while the iterator lives and does
// not move. A BlockIter made directly borrows the block, which must outlive it (point reads
// keep it on the stack next to the shared_ptr that pins the block: no allocation).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "storage/block_bytes.hpp"
#include "storage/internal_iterator.hpp"

namespace weaseldb::storage {

class Block : public std::enable_shared_from_this<Block> {
 public:
  static Result<std::shared_ptr<const Block>> parse(BlockBytes contents);
  // Copies `contents` (metadata blocks, tests).
  static Result<std::shared_ptr<const Block>> parse(std::string_view contents);

  std::unique_ptr<InternalIterator> new_iterator() const;
  size_t size() const { return contents_.size(); }
  uint32_t restart_count() const { return restart_count_; }
  // Where a seek's first read of the entries goes (the restart array), for a cache that
  // wants to prefetch it without touching the block.
  const char* restarts() const { return contents_.data() + restarts_offset_; }
  // Asks for the lines a seek reads first (this header with its shared count, the ranks and
  // the restart array at `restarts`), so that their cache misses overlap.
  void prefetch_for_seek(const char* restarts) const;

 private:
  friend class BlockIter;
  // Blocks with up to this many restart points carry their restart keys' ranks.
  static constexpr uint32_t kMaxRanked = 32;
  static constexpr size_t kMaxCommonBytes = 16;

  struct Private {};

 public:
  // For parse() only (through make_shared; Private keeps it out of other hands).
  Block(Private, BlockBytes contents, uint32_t restarts_offset, uint32_t restart_count)
      : contents_(std::move(contents)),
        restarts_offset_(restarts_offset),
        restart_count_(restart_count) {}

 private:
  // Fills ranks_ when every restart key decodes (otherwise the iterator's checked path
  // reports the damage when it gets there).
  void rank_restarts();
  // As TableIndex::rank(): never orders two user keys against their order, ties allowed.
  uint64_t rank(std::string_view user_key) const;

  BlockBytes contents_;
  uint32_t restarts_offset_;  // where the restart array begins: the end of the entries
  uint32_t restart_count_;
  // A seek's binary search over the restart points reads these instead of a cold restart
  // entry per step: the 8 bytes after common_ of each restart key's user key, big-endian.
  bool ranked_ = false;
  uint8_t common_size_ = 0;
  char common_[kMaxCommonBytes];
  uint64_t ranks_[kMaxRanked];
};

// Iterates one block (contract of InternalIterator). Final, so that code holding a BlockIter
// calls it directly.
class BlockIter final : public InternalIterator {
 public:
  // Borrows `block`, which must outlive the iterator.
  explicit BlockIter(const Block& block);
  // Shares ownership of `block`.
  explicit BlockIter(std::shared_ptr<const Block> block);
  BlockIter(const BlockIter&) = delete;
  BlockIter& operator=(const BlockIter&) = delete;

  bool valid() const override { return current_ < limit_ && status_.ok(); }
  Status status() const override { return status_; }
  std::string_view key() const override;
  std::string_view value() const override;
  void seek_to_first() override;
  void seek_to_last() override;
  void next() override;
  void prev() override;
  void seek(std::string_view target) override;

 private:
  static constexpr uint32_t kInlineKeyBytes = 64;

  uint32_t restart_point(uint32_t index) const;
  // Where the restart interval after `index` begins: its restart point, or limit_ after the last.
  uint32_t restart_after(uint32_t index) const;
  void seek_to_restart(uint32_t index);
  // Asks for the lines of the current restart interval at once: a seek scans ~half of it.
  void prefetch_interval() const;
  void corrupt(const char* what);
  struct EntryHeader {
    uint32_t shared;
    uint32_t non_shared;
    uint32_t value_bytes;
    uint32_t key_at;  // offset of the key's unshared bytes; 0: corrupt (an entry's is >= 3)
  };
  EntryHeader decode_header(uint32_t p);
  EntryHeader decode_long_header(uint32_t p);
  bool parse_next();
  bool restart_key(uint32_t index, std::string_view* key);
  // The number of restart keys < target, by rank (full keys only on ties); false on
  // corruption.
  bool count_restarts_before(std::string_view target, uint32_t* count);
  // Makes room for a key of `size` bytes (> key_capacity_), keeping the first key_size_ bytes.
  // Out of line and cold: keys longer than kInlineKeyBytes are rare.
  [[gnu::noinline, gnu::cold]] void grow_key(size_t size);

  std::shared_ptr<const Block> owner_;  // null when borrowing
  const Block* block_;
  const char* data_;
  uint32_t limit_;
  uint32_t restart_count_;
  uint32_t current_;  // offset of the current entry; limit_ when not valid
  uint32_t next_;     // offset of the entry after it
  uint32_t restart_index_ = 0;
  uint32_t next_restart_ = 0;  // restart_after(restart_index_), so a step compares, not loads
  // The current key: prefix-compressed entries rebuild it in place. Inline for short keys,
  // so that walking a block allocates nothing.
  char* key_ = inline_key_;
  uint32_t key_size_ = 0;
  uint32_t key_capacity_ = kInlineKeyBytes;
  std::unique_ptr<char[]> heap_key_;
  std::string_view value_;
  Status status_;
  char inline_key_[kInlineKeyBytes];
};

}  // namespace weaseldb::storage
