#include "storage/block_builder.hpp"

#include <algorithm>

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

void BlockBuilder::add(std::string_view key, std::string_view value) {
  WEASEL_ASSERT(!finished_);
  WEASEL_ASSERT(entries_ == 0 || compare_internal_keys(key, last_key_) > 0);
  size_t shared = 0;
  if (counter_ < restart_interval_) {
    size_t limit = std::min(last_key_.size(), key.size());
    while (shared < limit && last_key_[shared] == key[shared]) ++shared;
  } else {
    restarts_.push_back(static_cast<uint32_t>(buffer_.size()));
    counter_ = 0;
  }
  size_t non_shared = key.size() - shared;
  append_varint(&buffer_, shared);
  append_varint(&buffer_, non_shared);
  append_varint(&buffer_, value.size());
  buffer_.append(key.substr(shared));
  buffer_.append(value);
  last_key_.resize(shared);
  last_key_.append(key.substr(shared));
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
