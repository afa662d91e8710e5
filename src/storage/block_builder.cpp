#include "storage/block_builder.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/assert.hpp"
#include "storage/coding.hpp"
#include "storage/internal_key.hpp"

namespace weaseldb::storage {

BlockBuilder::BlockBuilder(uint32_t restart_interval) : restart_interval_(restart_interval) {
  WEASEL_ASSERT(restart_interval >= 1);
  reset();
}

void BlockBuilder::reset() {
  buffer_.clear();
  restarts_.assign(1, 0);
  counter_ = 0;
  entries_ = 0;
  finished_ = false;
  last_key_.clear();
}

size_t BlockBuilder::estimated_bytes() const {
  return buffer_.size() + (restarts_.size() + 1) * sizeof(uint32_t);
}

namespace {

// The length of the common prefix of a and b, 8 bytes at a time (keys share most of their
// bytes with the previous one in sorted input).
size_t common_prefix(std::string_view a, std::string_view b) {
  size_t limit = std::min(a.size(), b.size());
  size_t n = 0;
  while (n + 8 <= limit) {
    uint64_t x;
    uint64_t y;
    std::memcpy(&x, a.data() + n, 8);
    std::memcpy(&y, b.data() + n, 8);
    if (x != y) {
      // The first differing byte: the lowest in memory is the least significant bits on a
      // little-endian machine, the most significant on a big-endian one.
      int bit = std::endian::native == std::endian::little ? std::countr_zero(x ^ y)
                                                           : std::countl_zero(x ^ y);
      return n + static_cast<size_t>(bit) / 8;
    }
    n += 8;
  }
  while (n < limit && a[n] == b[n]) ++n;
  return n;
}

}  // namespace

void BlockBuilder::add(std::string_view key, std::string_view value) {
  WEASEL_ASSERT(!finished_);
  WEASEL_ASSERT(entries_ == 0 || compare_internal_keys(key, last_key_) > 0);
  size_t shared = 0;
  if (counter_ < restart_interval_) {
    shared = common_prefix(last_key_, key);
  } else {
    restarts_.push_back(static_cast<uint32_t>(buffer_.size()));
    counter_ = 0;
  }
  size_t non_shared = key.size() - shared;
  // The three lengths in one append: a flush adds every entry here.
  char header[3 * kMaxVarint64Bytes];
  char* p = put_varint(header, shared);
  p = put_varint(p, non_shared);
  p = put_varint(p, value.size());
  buffer_.append(header, static_cast<size_t>(p - header));
  buffer_.append(key.data() + shared, non_shared);
  buffer_.append(value.data(), value.size());
  last_key_.assign(key);
  ++counter_;
  ++entries_;
}

std::string_view BlockBuilder::finish() {
  WEASEL_ASSERT(buffer_.size() <= UINT32_MAX);
  for (uint32_t restart : restarts_) append_fixed32(&buffer_, restart);
  append_fixed32(&buffer_, static_cast<uint32_t>(restarts_.size()));
  finished_ = true;
  return buffer_;
}

}  // namespace weaseldb::storage
