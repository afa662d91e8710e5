#pragma once
// Matching commit acknowledgements with stream events, for bench/stream_lag.
//
// AckTable: the time each version's commit answer was read by the committing client, indexed
// by version - base over a fixed number of slots allocated up front (one atomic per slot, 0 =
// not acknowledged). Written by the load thread(s) through AckingWorkload, read by the
// subscriber thread: a release store of the time, an acquire load. Versions outside the table
// are counted, never stored.
// AckingWorkload: wraps a transactional workload of tools/load_tester (weasel-commit or
// etcd-txn) and stamps the version of every successful answer (weaseldb's `version`, etcd's
// header `revision`, the first "revision" in the body) with the time on_response() sees it.
// LagRecorder: owned by the subscriber thread. For each streamed version it looks up the
// acknowledgement; one not acknowledged yet is parked (bounded by max_pending) and resolved by
// resolve_pending(), so an event that outruns its commit answer gets lag 0 (`before_ack`),
// and one whose answer never came (in flight when the load stopped) is `unacked`. Only
// versions acknowledged at or after the window start count. All storage is allocated by the
// constructors: recording allocates nothing.

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "load_tester/histogram.hpp"
#include "load_tester/workload.hpp"
#include "stream_lag_client.hpp"

namespace weasel::bench {

class AckTable {
 public:
  AckTable(uint64_t first_version, uint64_t slots);

  void record(uint64_t version, int64_t ack_ns);
  bool covers(uint64_t version) const {
    return version >= first_ && version - first_ < slots_;
  }
  // 0 when `version` was not (yet) acknowledged. Requires covers(version).
  int64_t ack_ns(uint64_t version) const {
    return acks_[version - first_].load(std::memory_order_acquire);
  }
  uint64_t max_version() const { return max_version_.load(std::memory_order_acquire); }
  uint64_t untracked() const { return untracked_.load(std::memory_order_relaxed); }
  // Versions acknowledged at or after `since_ns`.
  uint64_t count_since(int64_t since_ns) const;

 private:
  const uint64_t first_;
  const uint64_t slots_;
  std::unique_ptr<std::atomic<int64_t>[]> acks_;
  std::atomic<uint64_t> max_version_{0};
  std::atomic<uint64_t> untracked_{0};
};

class AckingWorkload final : public load::Workload {
 public:
  AckingWorkload(std::unique_ptr<load::Workload> inner, AckTable& acks, StreamKind kind)
      : inner_(std::move(inner)), acks_(acks), kind_(kind) {}
  load::RequestMeta next_request(uint32_t connection_id, load::ByteBuffer& out) override {
    return inner_->next_request(connection_id, out);
  }
  load::Outcome on_response(uint32_t connection_id, const load::Response& response) override;
  void on_connection_lost(uint32_t connection_id, uint32_t lost_requests) override {
    inner_->on_connection_lost(connection_id, lost_requests);
  }

 private:
  std::unique_ptr<load::Workload> inner_;
  AckTable& acks_;
  const StreamKind kind_;
};

struct LagSummary {
  load::LatencyHistogram histogram;  // ns, one value per delivery of a counted version
  uint64_t acked_versions = 0;       // versions acknowledged inside the window
  uint64_t deliveries = 0;           // (subscriber, version) pairs of those, received
  uint64_t missing = 0;              // acked_versions * subscribers - deliveries, if positive
  uint64_t before_ack = 0;           // deliveries read before their commit's answer
  uint64_t unacked = 0;              // events whose commit answer never came
  uint64_t untracked = 0;            // versions outside the AckTable (events and answers)
  uint64_t pending_overflow = 0;     // events that could not be parked (max_pending)
};

class LagRecorder final : public EventListener {
 public:
  LagRecorder(const AckTable& acks, uint64_t max_pending);

  // Acknowledgements before `window_start_ns` are not counted (the warm-up). Any thread.
  void set_window_start(int64_t window_start_ns) {
    window_start_ns_.store(window_start_ns, std::memory_order_release);
  }
  void on_version(uint32_t subscriber, uint64_t version, int64_t recv_ns) override;
  // Resolves parked events whose answer has arrived; `final`: the rest are unacked.
  void resolve_pending(bool final);
  // After the subscriber thread is done.
  LagSummary summary(int64_t window_start_ns, uint32_t subscribers) const;

 private:
  struct Parked {
    uint64_t version;
    int64_t recv_ns;
  };
  void account(int64_t ack_ns, int64_t recv_ns);

  const AckTable& acks_;
  const uint64_t max_pending_;
  std::atomic<int64_t> window_start_ns_{INT64_MAX};
  std::vector<Parked> pending_;
  std::vector<Parked> still_pending_;
  LagSummary lag_;
  uint64_t untracked_events_ = 0;
};

}  // namespace weasel::bench
