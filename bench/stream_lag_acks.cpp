#include "stream_lag_acks.hpp"

#include "core/assert.hpp"
#include "load_tester/commit_workloads.hpp"
#include "load_tester/load_thread.hpp"

namespace weasel::bench {

AckTable::AckTable(uint64_t first_version, uint64_t slots)
    : first_(first_version), slots_(slots), acks_(std::make_unique<std::atomic<int64_t>[]>(slots)) {
  WEASEL_ASSERT(slots > 0);
}

void AckTable::record(uint64_t version, int64_t ack_ns) {
  WEASEL_ASSERT(ack_ns > 0);
  if (!covers(version)) {
    untracked_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  acks_[version - first_].store(ack_ns, std::memory_order_release);
  uint64_t seen = max_version_.load(std::memory_order_relaxed);
  while (version > seen &&
         !max_version_.compare_exchange_weak(seen, version, std::memory_order_acq_rel)) {
  }
}

uint64_t AckTable::count_since(int64_t since_ns) const {
  const uint64_t top = max_version();
  if (top < first_) return 0;
  uint64_t count = 0;
  for (uint64_t i = 0; i <= top - first_ && i < slots_; ++i) {
    count += acks_[i].load(std::memory_order_acquire) >= since_ns;
  }
  return count;
}

load::Outcome AckingWorkload::on_response(uint32_t connection_id,
                                          const load::Response& response) {
  const load::Outcome outcome = inner_->on_response(connection_id, response);
  if (outcome == load::Outcome::kSuccess) {
    const auto version = load::find_json_uint(
        response.body, kind_ == StreamKind::kWeasel ? "version" : "revision");
    if (version) acks_.record(*version, load::monotonic_now_ns());
  }
  return outcome;
}

LagRecorder::LagRecorder(const AckTable& acks, uint64_t max_pending)
    : acks_(acks), max_pending_(max_pending) {
  pending_.reserve(max_pending);
  still_pending_.reserve(max_pending);
}

void LagRecorder::on_version(uint32_t subscriber, uint64_t version, int64_t recv_ns) {
  (void)subscriber;
  if (!acks_.covers(version)) {
    ++untracked_events_;
    return;
  }
  const int64_t ack_ns = acks_.ack_ns(version);
  if (ack_ns != 0) return account(ack_ns, recv_ns);
  if (pending_.size() < max_pending_) {
    pending_.push_back({version, recv_ns});
  } else {
    ++lag_.pending_overflow;
  }
}

void LagRecorder::account(int64_t ack_ns, int64_t recv_ns) {
  if (ack_ns < window_start_ns_.load(std::memory_order_acquire)) return;
  ++lag_.deliveries;
  int64_t lag_ns = recv_ns - ack_ns;
  if (lag_ns < 0) {
    ++lag_.before_ack;
    lag_ns = 0;
  }
  lag_.histogram.record(static_cast<uint64_t>(lag_ns));
}

void LagRecorder::resolve_pending(bool final) {
  if (pending_.empty()) return;
  still_pending_.clear();
  for (const Parked& p : pending_) {
    const int64_t ack_ns = acks_.ack_ns(p.version);
    if (ack_ns != 0) {
      account(ack_ns, p.recv_ns);
    } else if (final) {
      ++lag_.unacked;
    } else {
      still_pending_.push_back(p);
    }
  }
  pending_.swap(still_pending_);
}

LagSummary LagRecorder::summary(int64_t window_start_ns, uint32_t subscribers) const {
  LagSummary s = lag_;
  s.acked_versions = acks_.count_since(window_start_ns);
  const uint64_t expected = s.acked_versions * subscribers;
  s.missing = expected > s.deliveries ? expected - s.deliveries : 0;
  s.untracked = untracked_events_ + acks_.untracked();
  return s;
}

}  // namespace weasel::bench
