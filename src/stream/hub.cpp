#include "stream/hub.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <variant>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/assert.hpp"

namespace weasel {

namespace {

constexpr uint64_t kWakeToken = 0;  // epoll data of the eventfd; subscriber ids start at 1
constexpr const char* kReasonNames[] = {"client_closed", "slow_consumer", "log_truncated", "error",
                                        "shutdown"};

}  // namespace

struct Hub::Subscriber {
  uint64_t id = 0;
  std::unique_ptr<SubscriberSink> sink;
  int fd = -1;
  bool durable = true;
  std::shared_ptr<const KeyFilter> filter;
  uint64_t cursor = 0;   // every transaction <= cursor is queued or filtered out
  bool live = false;     // at the tail: every new batch is pushed to it
  bool catchup_pending = false;
  bool epollout = false;  // EPOLLOUT armed (the socket was full)
  bool dirty = false;
  // When bytes last went to the socket, and when what is queued is due (see mark_dirty).
  std::chrono::steady_clock::time_point last_write =
      std::chrono::steady_clock::time_point::min();
  std::chrono::steady_clock::time_point flush_at;
  uint64_t last_checkpoint = 0;
  std::chrono::steady_clock::time_point last_queued;
  OutputQueue out;

  explicit Subscriber(bool chunked) : out(chunked) {}
};

struct AddRequest {
  SubscriptionRequest request;
  std::unique_ptr<SubscriberSink> sink;
};
struct DurableEvent {
  uint64_t version;
};
struct RawBatch {
  std::string bytes;
};

struct Hub::Inbox {
  using Item = std::variant<RawBatch, DurableEvent, AddRequest, CatchupResult>;
  std::mutex mu;
  std::vector<Item> items;
  bool stop = false;
  std::vector<Item> draining;  // hub thread only
};

Hub::Hub(const HubOptions& options, const LogStore& log, MetricsRegistry& metrics)
    : options_(options),
      log_(log),
      appended_version_(log.latest_version()),
      durable_version_(log.latest_version()),
      inbox_(std::make_unique<Inbox>()),
      recent_(log.latest_version()),
      hub_appended_(log.latest_version()),
      hub_durable_(log.latest_version()) {
  WEASEL_ASSERT(options_.max_buffer_bytes > 0 && options_.keepalive_interval_seconds > 0 &&
                options_.checkpoint_interval_ms > 0);
  for (int i = 0; i < kReasons; ++i) {
    disconnects_[i] = &metrics.counter("weaseldb_subscriber_disconnects_total",
                                       "Subscription streams ended, by reason",
                                       {{"reason", kReasonNames[i]}});
  }
  bytes_sent_ = &metrics.counter("weaseldb_subscription_bytes_sent_total",
                                 "Bytes written to subscription streams");
  catchup_lag_ = &metrics.gauge("weaseldb_subscription_catchup_lag_versions",
                                "Versions the furthest-behind catching-up subscriber lags the tail");
  catching_up_ = &metrics.gauge("weaseldb_subscription_catching_up",
                                "Subscribers reading history (not yet at the live tail)");
  metrics.gauge_callback("weaseldb_subscribers", "Open subscription streams", {},
                         [this] { return static_cast<double>(subscriber_count()); });

  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (wake_fd_ < 0 || epoll_fd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "subscription hub: eventfd/epoll");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeToken;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
    throw std::system_error(errno, std::generic_category(), "subscription hub: epoll_ctl");
  }
  worker_ = std::make_unique<CatchupWorker>(
      log_, options_.catchup_chunk_bytes, [this](CatchupResult&& result) {
        bool wake = false;
        {
          std::lock_guard lock(inbox_->mu);
          wake = inbox_->items.empty();
          inbox_->items.emplace_back(std::move(result));
        }
        if (wake) {
          const uint64_t one = 1;
          [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
        }
      });
  now_ = std::chrono::steady_clock::now();
  next_tick_ = now_;
  thread_ = std::thread([this] { run(); });
}

Hub::~Hub() {
  stop();
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

void Hub::stop() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  {
    std::lock_guard lock(inbox_->mu);
    inbox_->stop = true;
  }
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  // The worker first: its deliveries go to the inbox, which the hub thread no longer drains
  // after it stops.
  worker_->stop();
  if (thread_.joinable()) thread_.join();
  // Subscriptions that arrived after the hub thread left.
  std::vector<Inbox::Item> left;
  {
    std::lock_guard lock(inbox_->mu);
    left.swap(inbox_->items);
  }
  for (auto& item : left) {
    if (auto* add = std::get_if<AddRequest>(&item)) add->sink->finish({});
  }
}

// ---- producers (other threads) ----------------------------------------------------------

namespace {

template <class Item>
void post(std::mutex& mu, std::vector<Item>& items, Item item, int wake_fd) {
  bool wake = false;
  {
    std::lock_guard lock(mu);
    wake = items.empty();
    items.push_back(std::move(item));
  }
  // Only the first item of a burst wakes the hub: the commit path pays for at most one
  // eventfd write per hub iteration.
  if (wake) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof(one));
  }
}

}  // namespace

void Hub::on_batch_appended(std::string_view encoded) {
  const BatchHeaderDecodeResult header = decode_batch_header(encoded);
  WEASEL_ASSERT(header.status == DecodeStatus::kOk);
  post(inbox_->mu, inbox_->items, Inbox::Item(RawBatch{std::string(encoded)}), wake_fd_);
  appended_version_.store(header.header.last_version, std::memory_order_release);
}

void Hub::on_batch_durable(uint64_t last_version) {
  post(inbox_->mu, inbox_->items, Inbox::Item(DurableEvent{last_version}), wake_fd_);
  durable_version_.store(last_version, std::memory_order_release);
}

void Hub::add(const SubscriptionRequest& request, std::unique_ptr<SubscriberSink> sink) {
  {
    std::lock_guard lock(inbox_->mu);
    if (!inbox_->stop) {
      const bool wake = inbox_->items.empty();
      inbox_->items.emplace_back(AddRequest{request, std::move(sink)});
      if (wake) {
        const uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
      }
      return;
    }
  }
  sink->finish({});
}

// ---- the hub thread -----------------------------------------------------------------------

void Hub::run() {
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  for (;;) {
    now_ = std::chrono::steady_clock::now();
    const int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, next_timeout_ms(now_));
    now_ = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeToken) {
        uint64_t count = 0;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &count, sizeof(count));
        continue;
      }
      handle_socket_event(events[i].data.u64, events[i].events);
    }
    const bool running = drain_inbox();
    if (now_ >= next_tick_) tick(now_);
    flush_dirty(!running);
    if (!running) break;
  }
  while (!subscribers_.empty()) close(*subscribers_.begin()->second, Reason::kShutdown);
}

bool Hub::drain_inbox() {
  // Swapped with the hub's own vector, so neither side reallocates in steady state.
  std::vector<Inbox::Item>& items = inbox_->draining;
  items.clear();
  bool stop = false;
  {
    std::lock_guard lock(inbox_->mu);
    items.swap(inbox_->items);
    stop = inbox_->stop;
  }
  for (auto& item : items) {
    if (auto* raw = std::get_if<RawBatch>(&item)) {
      auto batch = PublishedBatch::decode(std::move(raw->bytes));
      WEASEL_ASSERT(batch != nullptr);  // the pipeline encoded it a moment ago
      on_new_batch(std::move(batch));
    } else if (auto* durable = std::get_if<DurableEvent>(&item)) {
      on_durable(durable->version);
    } else if (auto* add = std::get_if<AddRequest>(&item)) {
      if (stop) {
        add->sink->finish({});
      } else {
        on_add(std::move(add->request), std::move(add->sink));
      }
    } else {
      on_catchup(std::move(std::get<CatchupResult>(item)));
    }
  }
  if (durable_advanced_) {
    durable_advanced_ = false;
    for (auto& [id, sub] : subscribers_) {
      if (!sub->durable && sub->live) push_checkpoint(*sub);
    }
  }
  return !stop;
}

void Hub::on_new_batch(std::shared_ptr<PublishedBatch> batch) {
  hub_appended_ = batch->last_version();
  recent_.push(batch);
  std::vector<Subscriber*> overflowing;
  for (auto& [id, sub] : subscribers_) {
    // (A cursor at or past the batch is impossible while add() reads the versions the
    // observer publishes after posting; checked anyway, as push_batch requires it.)
    if (sub->durable || !sub->live || batch->last_version() <= sub->cursor) continue;
    push_batch(*sub, *batch, batch);
    if (over_backlog(*sub)) overflowing.push_back(sub.get());
  }
  for (Subscriber* sub : overflowing) close_slow(*sub);
}

bool Hub::over_backlog(const Subscriber& sub) const {
  // Only while the socket is full: otherwise the next flush decides (see flush()).
  return sub.live && sub.epollout && sub.out.backlog_bytes() > options_.max_buffer_bytes;
}

void Hub::close_slow(Subscriber& sub) {
  close(sub, Reason::kSlowConsumer, "slow_consumer",
        "the subscriber did not read fast enough (subscription.max_buffer_size_bytes)",
        "resume_after", 0);
}

void Hub::on_durable(uint64_t version) {
  hub_durable_ = version;
  durable_advanced_ = true;
  // By id (pump may close one): no iterator or pointer outlives a close.
  scratch_ids_.clear();
  for (auto& [id, sub] : subscribers_) {
    if (sub->durable && sub->live) scratch_ids_.push_back(id);
  }
  for (uint64_t id : scratch_ids_) {
    auto it = subscribers_.find(id);
    if (it != subscribers_.end()) pump(*it->second);
  }
}

void Hub::on_add(SubscriptionRequest request, std::unique_ptr<SubscriberSink> sink) {
  auto owned = std::make_unique<Subscriber>(request.chunked);
  Subscriber& sub = *owned;
  sub.id = next_id_++;
  sub.fd = sink->fd();
  sub.durable = request.durable;
  sub.filter = std::make_shared<const KeyFilter>(std::move(request.filter));
  sub.cursor = request.after;
  sub.last_queued = now_;
  sub.out.push_copy(sink->take_preamble(), 0, false);
  sub.out.push_copy(fmt::format("retry: {}\n\n", options_.retry_ms), 0);
  sub.sink = std::move(sink);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = sub.id;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, sub.fd, &ev) != 0) {
    spdlog::warn("subscription hub: epoll_ctl add: {}", std::strerror(errno));
    sub.sink->finish({});
    disconnects_[static_cast<int>(Reason::kError)]->inc();
    return;
  }
  subscribers_.emplace(sub.id, std::move(owned));
  subscriber_count_.fetch_add(1, std::memory_order_relaxed);
  pump(sub);
}

void Hub::on_catchup(CatchupResult result) {
  auto it = subscribers_.find(result.subscriber_id);
  if (it == subscribers_.end()) return;  // gone meanwhile
  Subscriber& sub = *it->second;
  sub.catchup_pending = false;
  if (!result.status.ok()) {
    if (result.status.code() == StatusCode::kLogTruncated) {
      close(sub, Reason::kLogTruncated, "log_truncated",
            "the history this stream still needed was truncated by retention", "oldest_version",
            result.oldest_version);
    } else {
      spdlog::error("subscription catch-up failed: {}", result.status.to_string());
      close(sub, Reason::kError, "internal", result.status.to_string());
    }
    return;
  }
  if (result.reached <= sub.cursor) {
    // The log had nothing after the cursor although the hub's memory starts later: that
    // would be a gap, so the stream ends rather than skip it.
    close(sub, Reason::kError, "internal", "the log has no history after the stream's cursor");
    return;
  }
  sub.out.push_copy(std::move(result.events), result.reached);
  sub.cursor = result.reached;
  sub.last_queued = now_;
  mark_dirty(sub);
  pump(sub);
}

uint64_t Hub::limit_for(const Subscriber& sub) const {
  return sub.durable ? hub_durable_ : hub_appended_;
}

void Hub::pump(Subscriber& sub) {
  const uint64_t limit = limit_for(sub);
  const size_t low_water = std::min(options_.max_buffer_bytes / 2, size_t{1} << 20);
  for (;;) {
    if (sub.cursor >= limit) {
      if (!sub.live) {
        sub.live = true;
        push_checkpoint(sub);  // SPEC: a checkpoint when catch-up reaches the live tail
      }
      break;
    }
    if (!sub.live && sub.out.pending_bytes() >= low_water) break;
    if (sub.cursor < recent_.floor()) {
      WEASEL_ASSERT(!sub.live);
      if (!sub.catchup_pending) {
        sub.catchup_pending = true;
        worker_->submit(CatchupJob{sub.id, sub.cursor, sub.filter});
      }
      break;
    }
    const auto& batches = recent_.batches();
    for (size_t i = recent_.first_after(sub.cursor); i < batches.size(); ++i) {
      const auto& batch = batches[i];
      if (batch->last_version() > limit) break;
      push_batch(sub, *batch, batch);
      if (!sub.live && sub.out.pending_bytes() >= low_water) break;
    }
  }
  if (over_backlog(sub)) close_slow(sub);
}

void Hub::push_batch(Subscriber& sub, PublishedBatch& batch,
                     const std::shared_ptr<PublishedBatch>& owner) {
  WEASEL_ASSERT(batch.last_version() > sub.cursor);
  if (!sub.filter->active) {
    sub.out.push(owner, batch.sse_after(sub.cursor), batch.last_version());
  } else {
    std::string events;
    const std::string_view leader = batch.view().leader_id();
    for (const TransactionView& txn : batch.view().transactions()) {
      if (txn.version > sub.cursor) append_transaction_event(events, txn, leader, *sub.filter);
    }
    sub.out.push_copy(std::move(events), batch.last_version());
  }
  sub.cursor = batch.last_version();
  sub.last_queued = now_;
  mark_dirty(sub);
}

void Hub::push_checkpoint(Subscriber& sub) {
  std::string event;
  append_checkpoint_event(event, hub_durable_, options_.leader_id);
  sub.out.push_copy(std::move(event), 0);
  sub.last_checkpoint = hub_durable_;
  sub.last_queued = now_;
  mark_dirty(sub);
}

void Hub::mark_dirty(Subscriber& sub) {
  if (sub.dirty || sub.epollout) return;  // an armed EPOLLOUT flushes it
  sub.dirty = true;
  dirty_.push_back(sub.id);
  // A stream written to within the last window gathers for a window from now; one that was
  // quiet for longer is due at once, so a trickle of commits pays no gathering lag.
  const auto window = std::chrono::microseconds(options_.coalesce_us);
  sub.flush_at = now_ < sub.last_write + window ? now_ + window : now_;
  flush_due_ = std::min(flush_due_, sub.flush_at);
}

void Hub::flush_dirty(bool all) {
  // Swapped with a member so neither vector is reallocated per loop.
  scratch_ids_.clear();
  scratch_ids_.swap(dirty_);
  flush_due_ = std::chrono::steady_clock::time_point::max();
  for (uint64_t id : scratch_ids_) {
    auto it = subscribers_.find(id);
    if (it == subscribers_.end()) continue;
    Subscriber& sub = *it->second;
    // Live streams gather; catching-up ones write at once (their next read waits on it).
    const bool gather = !all && sub.live && sub.out.pending_bytes() < options_.coalesce_bytes &&
                        now_ < sub.flush_at;
    if (gather) {
      dirty_.push_back(id);
      flush_due_ = std::min(flush_due_, sub.flush_at);
      continue;
    }
    sub.dirty = false;
    flush(sub);
  }
  for (uint64_t id : dirty_) {  // flush() may have queued more
    auto it = subscribers_.find(id);
    if (it != subscribers_.end()) flush_due_ = std::min(flush_due_, it->second->flush_at);
  }
}

void Hub::flush(Subscriber& sub) {
  const uint64_t before = sub.out.bytes_written();
  const OutputQueue::WriteResult r = sub.out.write_to(sub.fd);
  if (sub.out.bytes_written() != before) sub.last_write = now_;
  bytes_sent_->inc(sub.out.bytes_written() - before);
  if (r == OutputQueue::WriteResult::kError) {
    close(sub, Reason::kClientClosed);
    return;
  }
  const bool want_out = r == OutputQueue::WriteResult::kBlocked;
  if (want_out && sub.live && sub.out.backlog_bytes() > options_.max_buffer_bytes) {
    close_slow(sub);  // the socket is full and more than the limit waits behind it
    return;
  }
  if (want_out != sub.epollout) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0u);
    ev.data.u64 = sub.id;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, sub.fd, &ev) != 0) {
      close(sub, Reason::kError);
      return;
    }
    sub.epollout = want_out;
  }
  if (!want_out && !sub.live) pump(sub);  // drained: read on
}

void Hub::handle_socket_event(uint64_t id, uint32_t events) {
  auto it = subscribers_.find(id);
  if (it == subscribers_.end()) return;
  Subscriber& sub = *it->second;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    // A subscriber has nothing to say: discard what it sends, notice when it hangs up.
    char scratch[4096];
    for (int i = 0; i < 16; ++i) {
      const ssize_t n = ::recv(sub.fd, scratch, sizeof(scratch), MSG_DONTWAIT);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      close(sub, Reason::kClientClosed);
      return;
    }
  }
  if (events & EPOLLOUT) flush(sub);
}

void Hub::tick(std::chrono::steady_clock::time_point now) {
  const auto keepalive = std::chrono::seconds(options_.keepalive_interval_seconds);
  const auto checkpoint = std::chrono::milliseconds(options_.checkpoint_interval_ms);
  uint64_t lag = 0;
  int behind = 0;
  for (auto& [id, sub] : subscribers_) {
    if (!sub->live) {
      ++behind;
      lag = std::max(lag, limit_for(*sub) - std::min(sub->cursor, limit_for(*sub)));
      continue;
    }
    const auto idle = now - sub->last_queued;
    if (idle >= checkpoint && sub->last_checkpoint < hub_durable_) {
      push_checkpoint(*sub);
    } else if (idle >= keepalive) {
      sub->out.push_copy(": keepalive\n\n", 0);
      sub->last_queued = now;
      mark_dirty(*sub);
    }
  }
  catchup_lag_->set(static_cast<double>(lag));
  catching_up_->set(behind);
  recent_.trim(options_.recent_bytes_max, hub_durable_);
  const auto period = std::clamp<std::chrono::milliseconds>(
      std::min<std::chrono::milliseconds>(checkpoint, keepalive) / 2,
      std::chrono::milliseconds(5), std::chrono::milliseconds(500));
  next_tick_ = now + period;
}

int Hub::next_timeout_ms(std::chrono::steady_clock::time_point now) const {
  if (now >= next_tick_) return 0;
  auto until = next_tick_;
  if (!dirty_.empty()) {
    if (now >= flush_due_) return 0;
    until = std::min(until, flush_due_);
  }
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(until - now);
  return static_cast<int>((left.count() + 999) / 1000);
}

void Hub::close(Subscriber& sub, Reason reason, std::string_view code, std::string_view message,
                std::string_view field, uint64_t value) {
  uint64_t resume_after = 0;
  std::string final_bytes = sub.out.take_partial(resume_after);
  if (!code.empty()) {
    if (field == "resume_after") value = std::max(resume_after, value);
    std::string event;
    append_error_event(event, code, message, field, value);
    sub.out.append_framed(final_bytes, event);
  }
  sub.out.append_end(final_bytes);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, sub.fd, nullptr);
  disconnects_[static_cast<int>(reason)]->inc();
  subscriber_count_.fetch_sub(1, std::memory_order_relaxed);
  sub.sink->finish(std::move(final_bytes));
  subscribers_.erase(sub.id);  // destroys `sub`
}

}  // namespace weasel
