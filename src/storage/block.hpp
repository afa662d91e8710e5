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
// Ownership: a Block owns its bytes. Iterators share ownership of the block (shared_ptr), so
// the views they return stay valid while the iterator lives and does not move.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "storage/internal_iterator.hpp"

namespace weaseldb::storage {

class Block : public std::enable_shared_from_this<Block> {
 public:
  static Result<std::shared_ptr<const Block>> parse(std::string contents);

  std::unique_ptr<InternalIterator> new_iterator() const;
  size_t size() const { return contents_.size(); }
  uint32_t restart_count() const { return restart_count_; }

 private:
  class Iter;
  Block(std::string contents, uint32_t restarts_offset, uint32_t restart_count)
      : contents_(std::move(contents)),
        restarts_offset_(restarts_offset),
        restart_count_(restart_count) {}

  std::string contents_;
  uint32_t restarts_offset_;  // where the restart array begins: the end of the entries
  uint32_t restart_count_;
};

}  // namespace weaseldb::storage
