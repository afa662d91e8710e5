#pragma once
// TableIndex: a table's index block decoded once, when the table opens, into flat arrays
// that a point read or a seek searches without decoding entries.
//
// Why: the index block of a large table holds thousands of separators; a binary search over
// it decoded an entry per step and each step touched two cold cache lines (the restart
// array and the entry), which made the index search the largest single cost of a cached
// get in perf profiles. Here a search is a branch-free lower bound over an array of 8-byte
// integers (the 8 bytes of each separator's user key after the prefix that all of the
// table's separators share, big-endian, so integer order is key order: see rank()), and a
// full internal key comparison only among entries whose integers tie.
//
// Contract
// - build() walks the parsed index block; an entry that does not parse (bad key, bad block
//   handle) is corruption: a table whose index builds has sound handles.
// - seek(target) returns the first entry whose separator is >= target in internal key
//   order (compare_internal_keys), or size() when there is none: the data block that may
//   hold target, exactly as a BlockIter seek on the index block would find it.
// - Immutable after build(), so any number of threads may search it at once.
//
// Ownership: owns copies of the separators and handles; does not keep the block.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/block.hpp"
#include "storage/table_format.hpp"

namespace weaseldb::storage {

class TableIndex {
 public:
  static Result<TableIndex> build(const Block& index_block);

  size_t size() const { return handles_.size(); }
  size_t seek(std::string_view target) const;
  const BlockHandle& handle(size_t i) const { return handles_[i]; }
  std::string_view key(size_t i) const {
    return {keys_.data() + key_offsets_[i], key_offsets_[i + 1] - key_offsets_[i]};
  }

 private:
  // An integer that never orders two user keys against their order (ties are allowed): for a
  // key that starts with common_, the 8 bytes after it, big-endian and zero-padded (padding
  // can only make a tie); 0 for a key before every key that starts with common_, UINT64_MAX
  // for one after them.
  uint64_t rank(std::string_view user_key) const;

  std::string common_;           // the user key prefix that (nearly) all separators share
  std::vector<uint64_t> ranks_;  // per entry: rank(its user key)
  std::vector<BlockHandle> handles_;
  std::string keys_;                 // the separators (internal keys), back to back
  std::vector<uint32_t> key_offsets_;  // size() + 1 offsets into keys_
};

}  // namespace weaseldb::storage
