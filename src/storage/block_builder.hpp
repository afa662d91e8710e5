#pragma once
// BlockBuilder: builds the sorted key-value blocks of an SSTable (data and index blocks).
//
// Format (LevelDB's):
//   entries:  varint32 shared | varint32 non_shared | varint32 value_length
//             | key bytes past the shared prefix | value
//   trailer:  fixed32 restart_offset x num_restarts | fixed32 num_restarts
// Every `restart_interval` entries the key is stored whole (shared = 0) and its offset becomes
// a restart point, so a reader binary-searches restart points and decodes a few entries.
//
// Contract: add() takes keys in strictly increasing internal-key order (asserted); finish()
// returns the block, valid until reset() or destruction. Not thread-safe.
//
// Ownership: the builder owns its buffer.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weaseldb::storage {

class BlockBuilder {
 public:
  explicit BlockBuilder(uint32_t restart_interval);

  void add(std::string_view key, std::string_view value);
  std::string_view finish();
  void reset();

  // Size of the block if finished now.
  size_t estimated_bytes() const;
  bool empty() const { return buffer_.empty(); }
  uint32_t entries() const { return entries_; }

 private:
  uint32_t restart_interval_;
  std::string buffer_;
  std::vector<uint32_t> restarts_;
  uint32_t counter_ = 0;  // entries since the last restart
  uint32_t entries_ = 0;
  bool finished_ = false;
  std::string last_key_;
};

}  // namespace weaseldb::storage
