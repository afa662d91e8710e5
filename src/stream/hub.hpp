#pragma once
// The subscription hub of DESIGN.md section 5: follows the log as the commit pipeline grows it
// (a BatchObserver) and streams it to every subscriber as Server-Sent Events (SPEC section 3,
// GET /v1/subscribe).
//
// Threads: the persist stage calls the observer methods; I/O threads call add(); one hub
// thread owns every subscriber, the in-memory tail of the log and all socket writes; one
// CatchupWorker reads older history from the LogStore. They talk through a mutex-protected
// inbox and an eventfd, so nothing a subscriber does can block the commit path.
//
// Delivery: each subscriber has a cursor (every transaction <= cursor has been queued for it
// or filtered out) and a bounded output queue. Behind the tail it pulls, a bounded amount at a
// time, from the recent batches kept in memory or, further back, from the worker; once its
// cursor reaches the tail it is live and every new batch is pushed to it. Because cursors
// only move on the hub thread and both sources cut at batch boundaries, the hand-off from
// history to live has no gap and no duplicate. The SSE text of a batch is formatted once and
// shared by all unfiltered subscribers (filtered ones format their own operations).
//
// Back-pressure: a live subscriber whose socket is full while more than max_buffer_bytes wait
// behind the event being written gets an `error` event (slow_consumer, resume_after) and is
// closed; nobody waits for it.
// durable=false subscribers are sent batches when appended, plus a checkpoint whenever the
// durable version advances; durable ones only what is durable.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "log/batch_observer.hpp"
#include "log/log_store.hpp"
#include "metrics/metrics.hpp"
#include "stream/catchup.hpp"
#include "stream/output_queue.hpp"
#include "stream/recent_batches.hpp"
#include "stream/sse_format.hpp"
#include "stream/subscriber_sink.hpp"

namespace weasel {

struct HubOptions {
  size_t max_buffer_bytes = size_t{10} << 20;  // subscription.max_buffer_size_bytes
  int keepalive_interval_seconds = 30;          // subscription.keepalive_interval_seconds
  int checkpoint_interval_ms = 1000;            // subscription.checkpoint_interval_ms
  size_t recent_bytes_max = size_t{32} << 20;   // in-memory tail kept for joining subscribers
  size_t catchup_chunk_bytes = size_t{256} << 10;  // log bytes per catch-up read
  int retry_ms = 1000;                          // the stream's `retry:` field
  // Writes to a live subscriber are gathered for up to this long, or until this many bytes
  // wait: fewer, larger socket writes (per-write kernel cost dominates fan-out) for a bounded
  // lag. A stream not written to for this long is written at once, so a trickle of commits
  // pays no lag for it.
  int coalesce_us = 2000;
  size_t coalesce_bytes = size_t{64} << 10;
  std::string leader_id;                        // named by checkpoints
};

struct SubscriptionRequest {
  uint64_t after = 0;  // stream transactions with version > after
  bool durable = true;
  KeyFilter filter;
  bool chunked = true;  // frame the body as HTTP/1.1 chunks (false for HTTP/1.0 clients)
};

class Hub : public BatchObserver {
 public:
  // Starts the hub thread and the catch-up worker. `log` and `metrics` must outlive the hub.
  // The hub continues the log after log.latest_version().
  Hub(const HubOptions& options, const LogStore& log, MetricsRegistry& metrics);
  ~Hub() override;
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Closes every subscriber (their streams end cleanly), joins the threads. Idempotent. Later
  // add() calls finish their sink at once.
  void stop();

  // Any thread. The caller validated `after` against oldest/tail versions; history truncated
  // in between is reported on the stream (error event log_truncated).
  void add(const SubscriptionRequest& request, std::unique_ptr<SubscriberSink> sink);

  // The latest version a subscription may start after: the durable version, or for
  // durable=false the latest appended one.
  uint64_t tail_version(bool durable) const {
    return (durable ? durable_version_ : appended_version_).load(std::memory_order_acquire);
  }
  size_t subscriber_count() const { return subscriber_count_.load(std::memory_order_relaxed); }

  // BatchObserver (the persist thread).
  void on_batch_appended(std::string_view encoded) override;
  void on_batch_durable(uint64_t last_version) override;

 private:
  struct Subscriber;
  struct Inbox;
  enum class Reason : uint8_t { kClientClosed, kSlowConsumer, kLogTruncated, kError, kShutdown };
  static constexpr int kReasons = 5;

  void run();
  // Applies everything queued for the hub thread; false once stop() was asked.
  bool drain_inbox();
  void handle_socket_event(uint64_t id, uint32_t events);
  void on_new_batch(std::shared_ptr<PublishedBatch> batch);
  void on_durable(uint64_t version);
  void on_add(SubscriptionRequest request, std::unique_ptr<SubscriberSink> sink);
  void on_catchup(CatchupResult result);
  // Moves the subscriber forward from the recent batches (bounded unless live), asks the
  // worker for older history, turns it live at the tail; then checks its buffer.
  void pump(Subscriber& sub);
  void push_batch(Subscriber& sub, PublishedBatch& batch,
                  const std::shared_ptr<PublishedBatch>& owner);
  void push_checkpoint(Subscriber& sub);
  // A live subscriber whose socket is full with more than max_buffer_bytes queued behind it.
  bool over_backlog(const Subscriber& sub) const;
  void close_slow(Subscriber& sub);
  void tick(std::chrono::steady_clock::time_point now);
  void flush(Subscriber& sub);
  void close(Subscriber& sub, Reason reason, std::string_view code = {},
             std::string_view message = {}, std::string_view field = {}, uint64_t value = 0);
  void mark_dirty(Subscriber& sub);
  // Writes what is queued, except live streams still gathering (see HubOptions::coalesce_us);
  // `all` writes everything.
  void flush_dirty(bool all);
  uint64_t limit_for(const Subscriber& sub) const;
  int next_timeout_ms(std::chrono::steady_clock::time_point now) const;

  const HubOptions options_;
  const LogStore& log_;
  std::atomic<uint64_t> appended_version_;
  std::atomic<uint64_t> durable_version_;
  std::atomic<size_t> subscriber_count_{0};

  // Cross-thread inbox (persist stage, I/O threads, catch-up worker -> hub thread).
  std::unique_ptr<Inbox> inbox_;
  int wake_fd_ = -1;
  int epoll_fd_ = -1;

  // Hub thread state.
  RecentBatches recent_;
  uint64_t hub_appended_ = 0;  // what the hub thread has seen (the atomics run ahead)
  uint64_t hub_durable_ = 0;
  bool durable_advanced_ = false;  // since the last drain: checkpoints for durable=false
  std::chrono::steady_clock::time_point now_;
  std::unordered_map<uint64_t, std::unique_ptr<Subscriber>> subscribers_;
  std::vector<uint64_t> dirty_;  // subscribers with output to write
  std::vector<uint64_t> scratch_ids_;  // reused by on_durable and flush_dirty
  std::chrono::steady_clock::time_point flush_due_;  // the oldest gathered write is due
  uint64_t next_id_ = 1;
  std::chrono::steady_clock::time_point next_tick_;
  std::unique_ptr<CatchupWorker> worker_;

  Counter* disconnects_[kReasons] = {};
  Counter* bytes_sent_ = nullptr;
  Counter* events_dropped_ = nullptr;
  Gauge* catchup_lag_ = nullptr;
  Gauge* catching_up_ = nullptr;

  std::mutex stop_mu_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace weasel
