#include "stream/recent_batches.hpp"

#include <algorithm>

#include "core/assert.hpp"
#include "stream/sse_format.hpp"

namespace weasel {

std::shared_ptr<PublishedBatch> PublishedBatch::decode(std::string bytes) {
  std::shared_ptr<PublishedBatch> batch(new PublishedBatch());
  batch->raw_ = std::move(bytes);
  const BatchDecodeResult r = BatchView::decode(batch->raw_);
  if (r.status != DecodeStatus::kOk || r.batch.bytes().size() != batch->raw_.size()) {
    return nullptr;
  }
  batch->view_ = r.batch;
  return batch;
}

std::string_view PublishedBatch::sse_after(uint64_t after) {
  if (starts_.empty()) {
    static const KeyFilter kAll;
    const std::string_view leader = view_.leader_id();
    starts_.reserve(view_.header().transaction_count);
    sse_.reserve(raw_.size() * 2);
    for (const TransactionView& txn : view_.transactions()) {
      starts_.emplace_back(txn.version, static_cast<uint32_t>(sse_.size()));
      append_transaction_event(sse_, txn, leader, kAll);
    }
  }
  const auto it = std::upper_bound(starts_.begin(), starts_.end(), after,
                                   [](uint64_t v, const auto& s) { return v < s.first; });
  if (it == starts_.end()) return {};
  return std::string_view(sse_).substr(it->second);
}

void RecentBatches::push(std::shared_ptr<PublishedBatch> batch) {
  WEASEL_ASSERT(batch->prev_version() == tail_);
  tail_ = batch->last_version();
  bytes_ += batch->memory_bytes();
  batches_.push_back(std::move(batch));
}

size_t RecentBatches::first_after(uint64_t version) const {
  const auto it = std::upper_bound(
      batches_.begin(), batches_.end(), version,
      [](uint64_t v, const std::shared_ptr<PublishedBatch>& b) { return v < b->last_version(); });
  return static_cast<size_t>(it - batches_.begin());
}

void RecentBatches::trim(size_t max_bytes, uint64_t keep_above) {
  // Formatting grows a batch after push: recount lazily here, where it matters.
  size_t total = 0;
  for (const auto& b : batches_) total += b->memory_bytes();
  bytes_ = total;
  while (!batches_.empty() && bytes_ > max_bytes && batches_.front()->last_version() <= keep_above) {
    bytes_ -= batches_.front()->memory_bytes();
    floor_ = batches_.front()->last_version();
    batches_.pop_front();
  }
}

}  // namespace weasel
