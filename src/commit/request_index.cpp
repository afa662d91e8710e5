#include "commit/request_index.hpp"

#include <algorithm>

#include "core/assert.hpp"

namespace weasel {

RequestIndex::RequestIndex(size_t max_entries, uint64_t horizon)
    : max_entries_(max_entries), horizon_(horizon) {
  WEASEL_ASSERT(max_entries_ >= 1);
}

std::optional<uint64_t> RequestIndex::committed_version(std::string_view request_id) const {
  auto it = committed_.find(request_id);
  if (it == committed_.end()) return std::nullopt;
  return it->second;
}

void RequestIndex::add_committed(std::string_view request_id, uint64_t version) {
  auto [it, inserted] = committed_.emplace(std::string(request_id), version);
  if (!inserted) return;  // the first commit of an id is the one that counts
  committed_order_.emplace_back(it->first, version);
  while (committed_.size() > max_entries_) {
    auto& [oldest_id, oldest_version] = committed_order_.front();
    // An evicted id may have committed at oldest_version: lookups at or below it must read
    // the log.
    horizon_ = std::max(horizon_, oldest_version);
    committed_.erase(oldest_id);
    committed_order_.pop_front();
  }
}

void RequestIndex::forget(std::string_view request_id) {
  auto it = committed_.find(request_id);
  if (it != committed_.end()) committed_.erase(it);
  // The FIFO entry stays until it ages out; erase() of an absent key is harmless then.
}

bool RequestIndex::banned(std::string_view request_id) const {
  return banned_.find(request_id) != banned_.end();
}

void RequestIndex::ban(std::string_view request_id) {
  auto [it, inserted] = banned_.emplace(request_id);
  if (!inserted) return;
  banned_order_.emplace_back(*it);
  while (banned_.size() > max_entries_) {
    banned_.erase(banned_order_.front());
    banned_order_.pop_front();
  }
}

}  // namespace weasel
