#pragma once
// BatchObserver: how the commit pipeline's persist stage tells followers (the subscription
// hub, later the embedded reader) about the log as it grows, without the pipeline knowing
// who they are.
//
// Contract (all calls come from the ONE persist thread, in log order):
// - on_batch_appended(encoded): a batch is about to be handed to the LogStore. `encoded` is a
//   valid batch (log_format.hpp) whose prev_version is the last_version of the batch before
//   it; it is borrowed for the call only (copy what you keep). It is not durable yet.
// - on_batch_durable(last_version): the batch ending at last_version is durable. Every
//   appended batch is followed by exactly one on_batch_durable, unless the append failed: then
//   no further call of either kind comes (the log refuses appends until a restart).
// Implementations must return quickly (they run on the commit path) and must not block on
// anything a subscriber controls.

#include <cstdint>
#include <string_view>

namespace weasel {

class BatchObserver {
 public:
  virtual ~BatchObserver() = default;
  virtual void on_batch_appended(std::string_view encoded) = 0;
  virtual void on_batch_durable(uint64_t last_version) = 0;
};

}  // namespace weasel
