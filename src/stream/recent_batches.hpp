#pragma once
// The hub's memory of the log's tail. PublishedBatch is one log batch as the hub keeps it: the
// encoded bytes (copied once from the persist stage) and, formatted on first use, the SSE text
// of all its transactions, shared by every unfiltered subscriber. RecentBatches is the
// gap-free run of the latest batches, trimmed by size.
// Single-threaded: owned by the hub thread (a PublishedBatch is immutable once formatted, and
// queued slices of it keep it alive through shared_ptr).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "log/log_format.hpp"

namespace weasel {

class PublishedBatch {
 public:
  // nullptr when `bytes` is not one valid batch.
  static std::shared_ptr<PublishedBatch> decode(std::string bytes);

  const BatchView& view() const { return view_; }
  uint64_t prev_version() const { return view_.header().prev_version; }
  uint64_t last_version() const { return view_.header().last_version; }
  // The SSE events of the transactions with version > after (formatted on the first call).
  std::string_view sse_after(uint64_t after);
  size_t memory_bytes() const { return raw_.size() + sse_.size(); }

 private:
  PublishedBatch() = default;
  std::string raw_;
  BatchView view_;
  std::string sse_;
  std::vector<std::pair<uint64_t, uint32_t>> starts_;  // (version, offset of its event)
};

class RecentBatches {
 public:
  // Empty, continuing the log after `tail` (the latest version when the hub starts).
  explicit RecentBatches(uint64_t tail) : floor_(tail), tail_(tail) {}

  // Appends the next batch; its prev_version must be tail().
  void push(std::shared_ptr<PublishedBatch> batch);
  // Every transaction > floor() and <= tail() is in the batches held.
  uint64_t floor() const { return floor_; }
  uint64_t tail() const { return tail_; }
  const std::deque<std::shared_ptr<PublishedBatch>>& batches() const { return batches_; }
  // Index of the first batch with last_version > version (batches().size() if none).
  size_t first_after(uint64_t version) const;
  // Drops the oldest batches while more than max_bytes are held, keeping any batch with
  // last_version > keep_above (not yet in the log, so nothing else can serve it).
  void trim(size_t max_bytes, uint64_t keep_above);
  size_t bytes() const { return bytes_; }

 private:
  std::deque<std::shared_ptr<PublishedBatch>> batches_;
  uint64_t floor_;
  uint64_t tail_;
  size_t bytes_ = 0;
};

}  // namespace weasel
