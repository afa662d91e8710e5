#include "load_tester/load_thread.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>

#include "core/assert.hpp"

namespace weasel::load {
namespace {

constexpr int kMaxEvents = 256;
constexpr size_t kInitialReadBytes = 8 * 1024;
constexpr size_t kInitialWriteBytes = 1024;
constexpr size_t kMinReadRoomBytes = 4 * 1024;
// A response larger than this is treated as malformed rather than buffered without bound.
constexpr size_t kMaxBufferedResponseBytes = 64 * 1024 * 1024;
constexpr int64_t kNsPerMs = 1'000'000;
constexpr int64_t kTimeoutCheckIntervalNs = 100 * kNsPerMs;
constexpr int kMaxWaitMs = 1000;

}  // namespace

int64_t monotonic_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string resolve_target(const std::string& host, uint16_t port, TargetAddress& target) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &found);
  if (rc != 0) return "cannot resolve " + host + ": " + gai_strerror(rc);
  WEASEL_ASSERT(found != nullptr && found->ai_addrlen <= sizeof(target.address));
  std::memcpy(&target.address, found->ai_addr, found->ai_addrlen);
  target.length = found->ai_addrlen;
  freeaddrinfo(found);
  return {};
}

LoadThread::LoadThread(const LoadOptions& options, const TargetAddress& target,
                       const ThreadPlan& plan)
    : options_(options), target_(target), plan_(plan) {
  WEASEL_ASSERT(options.make_workload && options.make_protocol);
  WEASEL_ASSERT(plan.connection_count > 0 && options.pipeline_depth > 0);
  workload_ = options.make_workload(plan.thread_index);
  protocol_ = options.make_protocol();
  WEASEL_ASSERT(workload_ != nullptr && protocol_ != nullptr);
  connections_.reserve(plan.connection_count);
  for (uint32_t i = 0; i < plan.connection_count; ++i) {
    Connection& c = connections_.emplace_back(Connection{
        .id = plan.first_connection + i,
        .in = ByteBuffer(kInitialReadBytes),
        .out = ByteBuffer(kInitialWriteBytes),
    });
    c.ring.resize(options.pipeline_depth);
  }
  closed_.reserve(plan.connection_count);
  live_connections_ = plan.connection_count;
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) result_.setup_error = std::string("epoll_create1: ") + std::strerror(errno);
}

LoadThread::~LoadThread() {
  for (Connection& c : connections_) {
    if (c.fd >= 0) close(c.fd);
  }
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void LoadThread::run(int64_t measure_start_ns, int64_t deadline_ns) {
  measure_start_ns_ = measure_start_ns;
  deadline_ns_ = deadline_ns;
  int64_t now = monotonic_now_ns();
  result_.end_ns = now;
  if (!result_.setup_error.empty()) return;
  next_timeout_check_ns_ = now + kTimeoutCheckIntervalNs;
  pacer_ = Pacer(plan_.rate_per_s, now);
  for (Connection& c : connections_) start_connect(c, now);
  epoll_event events[kMaxEvents];
  while (!finished(now = monotonic_now_ns())) {
    const int ready = epoll_wait(epoll_fd_, events, kMaxEvents, next_wait_ms(now));
    if (ready < 0 && errno != EINTR) {
      result_.setup_error = std::string("epoll_wait: ") + std::strerror(errno);
      break;
    }
    for (int i = 0; i < ready; ++i) {
      handle_event(connections_[events[i].data.u32], events[i].events);
    }
    now = monotonic_now_ns();
    if (now >= next_timeout_check_ns_) {
      check_timeouts(now);
      next_timeout_check_ns_ = now + kTimeoutCheckIntervalNs;
    }
    service_closed(now);
    issue_due(now);
  }
  result_.end_ns = std::min(now, deadline_ns_);
}

bool LoadThread::finished(int64_t now_ns) const {
  if (now_ns >= deadline_ns_ || live_connections_ == 0) return true;
  return plan_.bounded_by_count && finished_measured_ >= plan_.request_budget;
}

bool LoadThread::may_issue_unpaced(int64_t now_ns) const {
  if (now_ns >= deadline_ns_) return false;
  if (!plan_.bounded_by_count || !measuring(now_ns)) return true;
  return issued_measured_ < plan_.request_budget;
}

bool LoadThread::may_issue(int64_t now_ns) const {
  return may_issue_unpaced(now_ns) && pacer_.may_issue(now_ns);
}

void LoadThread::issue_due(int64_t now_ns) {
  due_blocked_ = false;
  if (!pacer_.paced()) return;
  // Connections that went idle waiting for their next due request: hand due ones out round
  // robin, so no connection is favoured.
  const auto count = static_cast<uint32_t>(connections_.size());
  for (uint32_t scanned = 0; scanned < count && may_issue(now_ns); ++scanned) {
    Connection& c = connections_[pace_cursor_];
    pace_cursor_ = pace_cursor_ + 1 == count ? 0 : pace_cursor_ + 1;
    if (c.state == State::kOpen && c.ring_count < options_.pipeline_depth) {
      fill_and_flush(c, now_ns);
    }
  }
  due_blocked_ = may_issue(now_ns);  // still due: every connection is full (or connecting)
}

int LoadThread::next_wait_ms(int64_t now_ns) const {
  int64_t wake_ns = std::min(deadline_ns_, next_timeout_check_ns_);
  if (!measuring(now_ns)) wake_ns = std::min(wake_ns, measure_start_ns_);
  if (may_issue_unpaced(now_ns)) {
    if (may_issue(now_ns)) {
      for (uint32_t slot : closed_) wake_ns = std::min(wake_ns, connections_[slot].retry_at_ns);
    }
    // A due request that found every connection full waits for an answer, not the clock.
    if (pacer_.paced() && !due_blocked_) wake_ns = std::min(wake_ns, pacer_.due_ns());
  }
  if (wake_ns <= now_ns) return 0;
  return static_cast<int>(
      std::min<int64_t>((wake_ns - now_ns + kNsPerMs - 1) / kNsPerMs, kMaxWaitMs));
}

bool LoadThread::register_fd(Connection& c, uint32_t events) {
  WEASEL_ASSERT(c.interest == 0);
  epoll_event ev{};
  ev.events = events;
  ev.data.u32 = slot_of(c);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) return false;
  c.interest = events;
  return true;
}

void LoadThread::start_connect(Connection& c, int64_t now_ns) {
  WEASEL_ASSERT(c.fd < 0 && c.state == State::kClosed && c.interest == 0);
  c.connect_start_ns = now_ns;
  c.fd = socket(target_.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return connect_failed(c, now_ns);
  const int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const int rc = connect(c.fd, reinterpret_cast<const sockaddr*>(&target_.address), target_.length);
  if (rc == 0) {
    if (!register_fd(c, EPOLLIN)) return connect_failed(c, now_ns);
    return on_connected(c, now_ns);
  }
  if (errno != EINPROGRESS || !register_fd(c, EPOLLOUT)) return connect_failed(c, now_ns);
  c.state = State::kConnecting;
}

void LoadThread::finish_connect(Connection& c, int64_t now_ns) {
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error != 0) return connect_failed(c, now_ns);
  on_connected(c, now_ns);
}

void LoadThread::on_connected(Connection& c, int64_t now_ns) {
  c.state = State::kOpen;
  if (c.ever_connected && measuring(now_ns)) result_.reconnects += 1;
  c.ever_connected = true;
  c.answered_in_session = 0;
  fill_and_flush(c, now_ns);  // also moves the interest from EPOLLOUT to EPOLLIN
}

void LoadThread::connect_failed(Connection& c, int64_t now_ns) {
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
  c.interest = 0;
  if (measuring(now_ns)) result_.errors.connect += 1;
  c.consecutive_failures += 1;
  retire_or_schedule(c, now_ns + int64_t{options_.reconnect_delay_ms} * kNsPerMs);
}

void LoadThread::retire_or_schedule(Connection& c, int64_t retry_at_ns) {
  if (c.consecutive_failures >= options_.max_consecutive_failures) {
    c.state = State::kDead;
    WEASEL_ASSERT(live_connections_ > 0);
    live_connections_ -= 1;
    return;
  }
  c.state = State::kClosed;
  c.retry_at_ns = retry_at_ns;
  WEASEL_ASSERT(closed_.size() < closed_.capacity());  // each connection is listed once
  closed_.push_back(slot_of(c));
}

void LoadThread::service_closed(int64_t now_ns) {
  for (size_t i = 0; i < closed_.size();) {
    Connection& c = connections_[closed_[i]];
    if (c.retry_at_ns > now_ns || !may_issue(now_ns)) {
      ++i;
      continue;
    }
    closed_[i] = closed_.back();
    closed_.pop_back();
    start_connect(c, now_ns);  // on failure it is appended again, with a later retry time
  }
}

void LoadThread::handle_event(Connection& c, uint32_t events) {
  if (c.state == State::kConnecting) return finish_connect(c, monotonic_now_ns());
  if (c.state != State::kOpen) return;
  if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) on_readable(c);
  if (c.state == State::kOpen && (events & EPOLLOUT) != 0) flush(c, monotonic_now_ns());
}

void LoadThread::on_readable(Connection& c) {
  char* room = c.in.reserve_back(kMinReadRoomBytes);
  const ssize_t n = recv(c.fd, room, c.in.back_room(), 0);
  const int saved_errno = errno;
  const int64_t now = monotonic_now_ns();
  if (n > 0) {
    c.in.commit(static_cast<size_t>(n));
    process_responses(c, false, now);
    if (c.state == State::kOpen && c.in.size() > kMaxBufferedResponseBytes) {
      close_connection(c, CloseCause::kMalformed, now);
    }
    return;
  }
  if (n == 0) {
    process_responses(c, true, now);
    if (c.state != State::kOpen) return;
    const bool pending = c.ring_count > 0 || !c.in.empty();
    return close_connection(c, pending ? CloseCause::kPeerClosedPending : CloseCause::kIdle, now);
  }
  if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == EINTR) return;
  close_connection(c, saved_errno == ECONNRESET ? CloseCause::kReset : CloseCause::kRead, now);
}

void LoadThread::process_responses(Connection& c, bool peer_closed, int64_t now_ns) {
  while (c.state == State::kOpen && !c.in.empty()) {
    if (c.ring_count == 0) return close_connection(c, CloseCause::kMalformed, now_ns);
    const InFlight& front = c.ring[c.ring_head];
    const ScanResult scan = protocol_->scan_response(c.in.view(), front.meta, peer_closed);
    if (scan.status == ScanStatus::kIncomplete) break;
    if (scan.status == ScanStatus::kMalformed) {
      return close_connection(c, CloseCause::kMalformed, now_ns);
    }
    WEASEL_ASSERT(scan.length > 0 && scan.length <= c.in.size());
    const bool final_response = !scan.response.interim;
    if (final_response) complete_front(c, scan.response, now_ns);
    c.in.consume(scan.length);
    if (final_response && scan.response.close_after) {
      return close_connection(c, CloseCause::kServerClose, now_ns);
    }
  }
  if (c.state == State::kOpen && !peer_closed) fill_and_flush(c, now_ns);
}

void LoadThread::complete_front(Connection& c, const Response& response, int64_t now_ns) {
  WEASEL_ASSERT(c.ring_count > 0);
  const InFlight front = c.ring[c.ring_head];
  c.ring_head = (c.ring_head + 1) % options_.pipeline_depth;
  c.ring_count -= 1;
  c.consecutive_failures = 0;
  c.answered_in_session += 1;
  if (front.measured) {
    result_.latency_ns.record(static_cast<uint64_t>(std::max<int64_t>(now_ns - front.start_ns, 0)));
    result_.requests += 1;
    const int code = response.status_code;
    const bool known = code >= 100 && code < static_cast<int>(kStatusCodeSlots);
    result_.status_counts[known ? code : 0] += 1;
    if (code >= 200 && code < 300) result_.ok += 1;
    finished_measured_ += 1;
  }
  const Outcome outcome = workload_->on_response(c.id, response);
  WEASEL_ASSERT(static_cast<size_t>(outcome) < kOutcomeCount);
  if (front.measured && outcome != Outcome::kNone) {
    result_.outcomes[static_cast<size_t>(outcome)] += 1;
  }
}

void LoadThread::fill_and_flush(Connection& c, int64_t now_ns) {
  const uint32_t depth = options_.pipeline_depth;
  while (c.ring_count < depth && may_issue(now_ns)) {
    InFlight& slot = c.ring[(c.ring_head + c.ring_count) % depth];
    slot.meta = workload_->next_request(c.id, c.out);
    slot.start_ns = pacer_.take(now_ns);
    slot.measured = measuring(now_ns);
    c.ring_count += 1;
    if (slot.measured) issued_measured_ += 1;
  }
  flush(c, now_ns);
}

void LoadThread::flush(Connection& c, int64_t now_ns) {
  while (!c.out.empty()) {
    const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.consume(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    const bool reset = n < 0 && (errno == EPIPE || errno == ECONNRESET);
    return close_connection(c, reset ? CloseCause::kReset : CloseCause::kWrite, now_ns);
  }
  update_interest(c);
}

void LoadThread::update_interest(Connection& c) {
  const uint32_t wanted = EPOLLIN | (c.out.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT));
  if (wanted == c.interest) return;
  WEASEL_ASSERT(c.interest != 0);  // registered by start_connect()
  epoll_event ev{};
  ev.events = wanted;
  ev.data.u32 = slot_of(c);
  const int rc = epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  WEASEL_ASSERT_MSG(rc == 0, "epoll_ctl(MOD) failed on a registered socket");
  c.interest = wanted;
}

void LoadThread::close_connection(Connection& c, CloseCause cause, int64_t now_ns) {
  WEASEL_ASSERT(c.state == State::kOpen && c.fd >= 0);
  close(c.fd);
  c.fd = -1;
  c.interest = 0;
  const uint32_t lost = c.ring_count;
  for (uint32_t i = 0; i < lost; ++i) {
    if (!c.ring[(c.ring_head + i) % options_.pipeline_depth].measured) continue;
    WEASEL_ASSERT(issued_measured_ > 0);
    issued_measured_ -= 1;  // it will be sent again on another connection
    result_.lost_requests += 1;
  }
  if (measuring(now_ns)) count_error(cause);
  const bool orderly = cause == CloseCause::kIdle || cause == CloseCause::kServerClose;
  if (!orderly && c.answered_in_session == 0) c.consecutive_failures += 1;
  c.ring_head = 0;
  c.ring_count = 0;
  c.in.clear();
  c.out.clear();
  if (lost > 0) workload_->on_connection_lost(c.id, lost);
  retire_or_schedule(c, now_ns);
}

void LoadThread::count_error(CloseCause cause) {
  ErrorCounts& e = result_.errors;
  switch (cause) {
    case CloseCause::kIdle:
    case CloseCause::kServerClose:
      return;
    case CloseCause::kPeerClosedPending:
      e.closed += 1;
      return;
    case CloseCause::kReset:
      e.reset += 1;
      return;
    case CloseCause::kRead:
      e.read += 1;
      return;
    case CloseCause::kWrite:
      e.write += 1;
      return;
    case CloseCause::kMalformed:
      e.malformed += 1;
      return;
    case CloseCause::kTimeout:
      e.timeout += 1;
      return;
  }
}

void LoadThread::check_timeouts(int64_t now_ns) {
  const int64_t limit_ns = int64_t{options_.timeout_ms} * kNsPerMs;
  for (Connection& c : connections_) {
    if (c.state == State::kConnecting && now_ns - c.connect_start_ns >= limit_ns) {
      connect_failed(c, now_ns);
      continue;
    }
    if (c.state != State::kOpen || c.ring_count == 0) continue;
    const InFlight& front = c.ring[c.ring_head];
    if (now_ns - front.start_ns < limit_ns) continue;
    // A timed-out request is a finished attempt: counted, not sent again.
    if (front.measured) finished_measured_ += 1;
    c.ring_head = (c.ring_head + 1) % options_.pipeline_depth;
    c.ring_count -= 1;
    close_connection(c, CloseCause::kTimeout, now_ns);
  }
}

}  // namespace weasel::load
