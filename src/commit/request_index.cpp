#include "commit/request_index.hpp"

#include <algorithm>

#include "core/assert.hpp"

namespace weasel {

RequestIndex::RequestIndex(const RequestIndexLimits& limits, uint64_t horizon)
    : limits_(limits), horizon_(horizon) {
  WEASEL_ASSERT(limits_.max_entries >= 1 && limits_.max_versions >= 1 && limits_.max_age_ms >= 1);
}

std::optional<uint64_t> RequestIndex::committed_version(std::string_view request_id) const {
  auto it = committed_.find(request_id);
  if (it == committed_.end()) return std::nullopt;
  return it->second;
}

void RequestIndex::add_committed(std::string_view request_id, uint64_t version,
                                 int64_t timestamp_ms) {
  auto [it, inserted] = committed_.emplace(std::string(request_id), version);
  if (!inserted) return;  // the first commit of an id is the one that counts
  committed_order_.push_back({it->first, version, timestamp_ms});
  while (committed_order_.size() > limits_.max_entries) evict_front();
  while (!committed_order_.empty()) {
    const Added& oldest = committed_order_.front();
    const bool too_many_versions = version - std::min(version, oldest.version) > limits_.max_versions;
    const bool too_old = timestamp_ms - oldest.timestamp_ms > limits_.max_age_ms;
    if (!too_many_versions && !too_old) break;
    evict_front();
  }
}

void RequestIndex::evict_front() {
  const Added oldest = committed_order_.front();
  committed_order_.pop_front();
  // An evicted id may have committed at oldest.version: lookups at or below it must read the
  // log.
  horizon_ = std::max(horizon_, oldest.version);
  auto it = committed_.find(oldest.id);
  // forget() may have removed it, and a later add of the same id re-inserted another entry
  // (then its FIFO record is the later one): erase only the entry this record made.
  if (it != committed_.end() && it->second == oldest.version) committed_.erase(it);
}

void RequestIndex::forget(std::string_view request_id) {
  auto it = committed_.find(request_id);
  if (it == committed_.end()) return;
  // The FIFO record must not keep a view of the key erased here: drop it now (forget is rare
  // — only for commits whose batch failed — and concerns the newest records).
  for (auto r = committed_order_.rbegin(); r != committed_order_.rend(); ++r) {
    if (r->id.data() == it->first.data()) {
      committed_order_.erase(std::next(r).base());
      break;
    }
  }
  committed_.erase(it);
}

bool RequestIndex::banned(std::string_view request_id) const {
  return banned_.find(request_id) != banned_.end();
}

void RequestIndex::ban(std::string_view request_id) {
  auto [it, inserted] = banned_.emplace(request_id);
  if (!inserted) return;
  banned_order_.emplace_back(*it);
  while (banned_.size() > limits_.max_entries) {
    banned_.erase(banned_order_.front());
    banned_order_.pop_front();
  }
}

}  // namespace weasel
