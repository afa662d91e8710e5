#include "net/server.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <system_error>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/assert.hpp"

namespace weasel {
namespace {

// epoll_event.data.u64 holds either a Connection* (8-byte aligned: low bits zero) or a tagged
// fd for the server's own descriptors.
constexpr uint64_t kTagMask = 7;
constexpr uint64_t kTagListener = 1;
constexpr uint64_t kTagWake = 2;
constexpr uint64_t kTagTimer = 3;
// An edge-triggered connection that a handler took: its registration stays, pointing at no
// object (see Server::take).
constexpr uint64_t kTagParked = 4;

uint64_t tagged(int fd, uint64_t tag) { return (static_cast<uint64_t>(fd) << 3) | tag; }

// Edge-triggered registration. EPOLLOUT is added only once a write could not finish (and then
// kept): registered on a writable socket it would raise an event at every EPOLL_CTL_ADD.
constexpr uint32_t kEdgeEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;

// Server::take calls on this thread, so the I/O loop can check that every connection a
// handler callback let go of was taken through Server::take.
thread_local uint64_t t_takes = 0;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string format_peer(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    return fmt::format("{}:{}", host, ntohs(a->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    return fmt::format("[{}]:{}", host, ntohs(a->sin6_port));
  }
  return "unix";
}

int listen_tcp(const ListenAddress& addr, std::string& bound) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(addr.port);
  const int rc = getaddrinfo(addr.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    throw std::runtime_error(
        fmt::format("cannot resolve listen address {}: {}", addr.host, gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  const std::string where = fmt::format("{}:{}", addr.host, port);
  const int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno("socket for " + where);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    throw_errno("bind " + where);
  }
  if (::listen(fd, SOMAXCONN) != 0) {
    ::close(fd);
    throw_errno("listen " + where);
  }
  sockaddr_storage actual{};
  socklen_t len = sizeof(actual);
  getsockname(fd, reinterpret_cast<sockaddr*>(&actual), &len);
  bound = format_peer(actual);
  return fd;
}

int listen_unix(const ListenAddress& addr, std::string& bound) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (addr.path.empty() || addr.path.size() >= sizeof(sun.sun_path)) {
    throw std::runtime_error("unix socket path is empty or too long: " + addr.path);
  }
  std::memcpy(sun.sun_path, addr.path.data(), addr.path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno("socket for unix:" + addr.path);
  ::unlink(addr.path.c_str());  // a stale socket file from an earlier run
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    throw_errno("bind unix:" + addr.path);
  }
  bound = "unix:" + addr.path;
  return fd;
}

}  // namespace

std::shared_ptr<Server> Server::create(const ServerOptions& options,
                                       std::shared_ptr<ConnectionHandler> handler) {
  std::shared_ptr<Server> server(new Server(options, std::move(handler)));
  server->bind_listeners();
  return server;
}

Server::Server(const ServerOptions& options, std::shared_ptr<ConnectionHandler> handler)
    : options_(options),
      handler_(std::move(handler)),
      edge_triggered_(options.io_threads == options.epoll_instances) {
  WEASEL_ASSERT(handler_ != nullptr);
  WEASEL_ASSERT(options_.io_threads >= 1);
  WEASEL_ASSERT(options_.epoll_instances >= 1 && options_.epoll_instances <= options_.io_threads);
  WEASEL_ASSERT(options_.event_batch_size >= 1);
}

Server::~Server() {
  stop();
  for (int fd : epoll_fds_) ::close(fd);
  for (int fd : wake_fds_) ::close(fd);
  if (timer_fd_ >= 0) ::close(timer_fd_);
}

void Server::bind_listeners() {
  for (const ListenAddress& addr : options_.listen) {
    std::string bound;
    const int fd = addr.kind == ListenAddress::Kind::kUnix ? listen_unix(addr, bound)
                                                           : listen_tcp(addr, bound);
    listen_fds_.push_back(fd);
    bound_.push_back(bound);
  }
  for (int i = 0; i < options_.epoll_instances; ++i) {
    const int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) throw_errno("epoll_create1");
    epoll_fds_.push_back(ep);
    const int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake < 0) throw_errno("eventfd");
    wake_fds_.push_back(wake);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tagged(wake, kTagWake);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, wake, &ev) != 0) throw_errno("epoll_ctl wake");
    for (int lfd : listen_fds_) {
      // EPOLLEXCLUSIVE: one waiter per epoll set wakes for a new connection, not all.
      epoll_event lev{};
      lev.events = EPOLLIN | EPOLLEXCLUSIVE;
      lev.data.u64 = tagged(lfd, kTagListener);
      if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) throw_errno("epoll_ctl listener");
    }
  }
  if (options_.idle_timeout_seconds > 0) {
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd_ < 0) throw_errno("timerfd_create");
    // Scan often enough that a connection is closed within ~1 s of its deadline.
    itimerspec spec{};
    spec.it_interval.tv_sec = 1;
    spec.it_value.tv_sec = 1;
    timerfd_settime(timer_fd_, 0, &spec, nullptr);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tagged(timer_fd_, kTagTimer);
    if (epoll_ctl(epoll_fds_[0], EPOLL_CTL_ADD, timer_fd_, &ev) != 0) throw_errno("epoll_ctl timer");
  }
}

std::vector<std::string> Server::bound_addresses() const { return bound_; }

void Server::start() {
  WEASEL_ASSERT(threads_.empty());
  for (int i = 0; i < options_.io_threads; ++i) {
    threads_.emplace_back([this, i] { io_loop(i); });
  }
}

void Server::wake_all() {
  const uint64_t one = 1;
  for (int fd : wake_fds_) {
    // Never read back: the eventfd stays readable so every thread on the set sees it.
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof(one));
  }
}

void Server::stop() {
  if (stopping_.exchange(true, std::memory_order_acq_rel)) {
    // Second caller (e.g. the destructor after an explicit stop): wait for nothing more.
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    return;
  }
  for (size_t i = 0; i < listen_fds_.size(); ++i) {
    for (int ep : epoll_fds_) epoll_ctl(ep, EPOLL_CTL_DEL, listen_fds_[i], nullptr);
    ::close(listen_fds_[i]);
    if (options_.listen[i].kind == ListenAddress::Kind::kUnix) {
      ::unlink(options_.listen[i].path.c_str());
    }
  }
  listen_fds_.clear();
  std::unique_lock lock(registry_mu_);
  // Wake every connection parked in epoll: reads return what was sent, then end of stream, so
  // a connection finishes what it has and closes. Connections held by handlers are closed
  // when they come back (the server is stopping).
  for (Connection* conn : registry_) ::shutdown(conn->fd(), SHUT_RD);
  if (!threads_.empty()) {
    const bool drained = registry_empty_cv_.wait_for(
        lock, std::chrono::seconds(options_.shutdown_timeout_seconds),
        [this] { return registry_.empty(); });
    if (!drained) {
      spdlog::warn("shutdown: {} connections still open after {} s; closing", registry_.size(),
                   options_.shutdown_timeout_seconds);
      for (Connection* conn : registry_) ::shutdown(conn->fd(), SHUT_RDWR);
    }
  }
  lock.unlock();
  threads_exit_.store(true, std::memory_order_release);
  wake_all();
  for (auto& t : threads_) t.join();
}

void Server::io_loop(int thread_index) {
  const int ep = epoll_fds_[static_cast<size_t>(thread_index % options_.epoll_instances)];
  std::vector<epoll_event> events(static_cast<size_t>(options_.event_batch_size));
  std::vector<std::unique_ptr<Connection>> batch;
  batch.reserve(events.size());
  while (!threads_exit_.load(std::memory_order_acquire)) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("epoll_wait: {}", std::strerror(errno));
      continue;
    }
    batch.clear();
    const int64_t now = now_ms();
    for (int i = 0; i < n; ++i) {
      const uint64_t data = events[static_cast<size_t>(i)].data.u64;
      const int fd = static_cast<int>(data >> 3);
      switch (data & kTagMask) {
        case kTagListener:
          accept_ready(fd, ep);
          continue;
        case kTagWake:
          continue;
        case kTagParked:
          // The one-shot EPOLLHUP/EPOLLERR of a connection that is away. Its owner finds the
          // condition itself, and release_back_to_server re-evaluates readiness.
          continue;
        case kTagTimer: {
          uint64_t ticks;
          if (::read(fd, &ticks, sizeof(ticks)) == sizeof(ticks)) scan_idle();
          continue;
        }
        default:
          break;
      }
      std::unique_ptr<Connection> conn(reinterpret_cast<Connection*>(data));
      conn->handoff_.load(std::memory_order_acquire);
      conn->last_activity_ms_.store(now, std::memory_order_relaxed);
      process_event(conn, events[static_cast<size_t>(i)].events);
      if (conn) batch.push_back(std::move(conn));
    }
    if (batch.empty()) continue;
    const uint64_t takes_before = t_takes;
    handler_->on_batch_end(batch);
    uint64_t gone = 0;
    for (auto& conn : batch) {
      if (conn) {
        finish_round(std::move(conn), false);
      } else {
        ++gone;
      }
    }
    WEASEL_ASSERT_MSG(gone == t_takes - takes_before,
                      "on_batch_end let go of a connection without Server::take");
  }
}

void Server::accept_ready(int listen_fd, int epoll_fd) {
  // Bounded so one busy listener cannot starve the connections of this thread.
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    const int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        spdlog::warn("accept: {}", std::strerror(errno));
      }
      return;
    }
    if (stopping()) {
      ::close(fd);
      continue;
    }
    if (connection_count_.fetch_add(1, std::memory_order_relaxed) >= options_.max_connections) {
      connection_count_.fetch_sub(1, std::memory_order_relaxed);
      refused_.fetch_add(1, std::memory_order_relaxed);
      // Best effort: tell the client why, then close. Other connections are unaffected.
      if (!options_.refuse_message.empty()) {
        [[maybe_unused]] ssize_t n = ::send(fd, options_.refuse_message.data(),
                                            options_.refuse_message.size(), MSG_NOSIGNAL);
      }
      ::close(fd);
      continue;
    }
    if (addr.ss_family != AF_UNIX) {
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    std::unique_ptr<Connection> conn(
        new Connection(next_id_.fetch_add(1, std::memory_order_relaxed), fd, format_peer(addr),
                       epoll_fd, weak_from_this()));
    conn->last_activity_ms_.store(now_ms(), std::memory_order_relaxed);
    {
      std::lock_guard lock(registry_mu_);
      registry_.insert(conn.get());
    }
    handler_->on_connection_established(*conn);
    arm(std::move(conn), EPOLL_CTL_ADD,
        edge_triggered_ ? kEdgeEvents : EPOLLIN | EPOLLRDHUP | EPOLLONESHOT);
  }
}

void Server::process_event(std::unique_ptr<Connection>& conn, uint32_t events) {
  const uint64_t takes_before = t_takes;
  if (events & EPOLLOUT) {
    if (conn->flush() == Connection::IoResult::kError) {
      destroy(std::move(conn));
      return;
    }
    if (conn->output_pending() == 0) {
      handler_->on_write_progress(conn);
      if (!conn) {
        WEASEL_ASSERT_MSG(t_takes == takes_before + 1,
                          "on_write_progress let go of a connection without Server::take");
        return;
      }
    }
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) conn->read_hint_ = true;
  bool read_more = false;
  if (conn->read_hint_ && !conn->peer_closed_ && !conn->close_after_write_) {
    const size_t max_bytes = options_.max_buffered_bytes;
    if (conn->output_pending() < max_bytes) {
      const size_t before = conn->input_.size();
      if (conn->read_available(options_.read_buffer_size, max_bytes) ==
          Connection::IoResult::kError) {
        destroy(std::move(conn));
        return;
      }
      read_more = conn->input_.size() > before;
    }
  }
  // Input left from a round where the connection was away (pipelined requests) also counts.
  if ((read_more || !conn->input_.empty()) && !conn->close_after_write_) {
    handler_->on_data_arrived(conn);
    WEASEL_ASSERT_MSG(conn != nullptr || t_takes == takes_before + 1,
                      "on_data_arrived let go of a connection without Server::take");
  }
  // Answered inline: the emptied buffer goes back to this thread's spares now, so the next
  // connection of the same epoll batch reads into it instead of allocating its own.
  if (conn && conn->input_.empty()) conn->input_.release_if_empty();
}

std::unique_ptr<Connection> Server::take(std::unique_ptr<Connection>& conn_ptr) {
  WEASEL_ASSERT(conn_ptr != nullptr);
  Connection& conn = *conn_ptr;
  if (conn.registered_) {
    // Still in its set (edge-triggered): its next event would hand this pointer to the I/O
    // thread while another thread owns the connection. It is parked instead: the event data
    // no longer points at the connection, and only one EPOLLHUP/EPOLLERR report (which
    // epoll_ctl always adds) can still fire, carrying the parked tag. EPOLL_CTL_MOD costs
    // about half of leaving the set and coming back (DEL + ADD).
    epoll_event ev{};
    ev.events = EPOLLONESHOT;
    ev.data.u64 = tagged(conn.fd_, kTagParked);
    const int rc = epoll_ctl(conn.epoll_fd_, EPOLL_CTL_MOD, conn.fd_, &ev);
    WEASEL_ASSERT_MSG(rc == 0, "epoll_ctl(EPOLL_CTL_MOD) parking a connection failed");
    conn.armed_events_ = 0;
  }
  ++t_takes;
  return std::move(conn_ptr);
}

void Server::release_back_to_server(std::unique_ptr<Connection> conn) {
  WEASEL_ASSERT(conn != nullptr);
  std::shared_ptr<Server> server = conn->server_.lock();
  if (!server) return;  // the destructor closes the socket
  server->finish_round(std::move(conn), true);
}

void Server::finish_round(std::unique_ptr<Connection> conn, bool from_handler) {
  if (conn->output_pending() > 0 && conn->flush() == Connection::IoResult::kError) {
    destroy(std::move(conn));
    return;
  }
  const bool drained = conn->output_pending() == 0;
  if (drained && (conn->close_after_write_ || conn->peer_closed_ ||
                  (stopping() && conn->input_.empty()))) {
    destroy(std::move(conn));
    return;
  }
  if (drained) conn->input_.release_if_empty();
  if (conn->input_.empty() && drained) conn->arena_.reset();
  const size_t limit = options_.max_buffered_bytes;
  const bool may_read = !conn->peer_closed_ && !conn->close_after_write_ &&
                        conn->input_.size() < limit && conn->output_pending() < limit;
  if (edge_triggered_) {
    rearm_edge(std::move(conn), from_handler, may_read);
  } else {
    rearm_oneshot(std::move(conn), from_handler, may_read);
  }
}

void Server::rearm_oneshot(std::unique_ptr<Connection> conn, bool from_handler, bool may_read) {
  uint32_t events = EPOLLONESHOT | EPOLLRDHUP;
  if (may_read) events |= EPOLLIN;
  // EPOLLOUT when there is output to write; also, for a connection coming back from a
  // handler with pipelined requests waiting, to get an I/O thread to process them promptly.
  if (conn->output_pending() > 0 || (from_handler && !conn->input_.empty())) events |= EPOLLOUT;
  arm(std::move(conn), EPOLL_CTL_MOD, events);
}

void Server::rearm_edge(std::unique_ptr<Connection> conn, bool from_handler, bool may_read) {
  // EPOLLOUT as in rearm_oneshot; once registered it stays (an edge-triggered EPOLLOUT only
  // fires when a full socket gets room again, which costs nothing while writes complete).
  uint32_t events = kEdgeEvents | (conn->armed_events_ & EPOLLOUT);
  if (conn->output_pending() > 0 || (from_handler && !conn->input_.empty())) events |= EPOLLOUT;
  WEASEL_ASSERT(conn->registered_);
  if (from_handler) {
    // Back from a handler (parked by Server::take): EPOLL_CTL_MOD evaluates readiness, so
    // bytes that arrived while the connection was away (or were left unread when it was
    // taken) raise an event.
    WEASEL_ASSERT(conn->armed_events_ == 0);
    arm(std::move(conn), EPOLL_CTL_MOD, events);
    return;
  }
  // Owned by this set's only thread and still registered: usually nothing to do. A read that
  // a buffer limit stopped left bytes in the socket that no new edge will announce, so once
  // reading may go on, EPOLL_CTL_MOD asks epoll to look again (it queues an event if the
  // socket is readable).
  const bool stalled_read = conn->read_hint_ && may_read;
  if (events == conn->armed_events_ && !stalled_read) {
    [[maybe_unused]] Connection* parked = conn.release();  // epoll holds it
    return;
  }
  arm(std::move(conn), EPOLL_CTL_MOD, events);
}

void Server::arm(std::unique_ptr<Connection> conn, int op, uint32_t events) {
  const int epoll_fd = conn->epoll_fd_;
  const int fd = conn->fd_;
  conn->registered_ = edge_triggered_;
  conn->armed_events_ = events;
  Connection* raw = conn.release();
  raw->handoff_.fetch_add(1, std::memory_order_release);
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = reinterpret_cast<uint64_t>(raw);
  // From here on another thread may own the connection: `raw` is not touched unless
  // epoll_ctl failed (then no event can fire and it is still ours).
  if (epoll_ctl(epoll_fd, op, fd, &ev) != 0) {
    spdlog::warn("epoll_ctl {}: {}", op == EPOLL_CTL_ADD ? "add" : "mod", std::strerror(errno));
    raw->registered_ = false;
    destroy(std::unique_ptr<Connection>(raw));
  }
}

void Server::destroy(std::unique_ptr<Connection> conn) {
  handler_->on_connection_closed(*conn);
  {
    std::lock_guard lock(registry_mu_);
    registry_.erase(conn.get());
    conn.reset();  // closes the fd while no scanner can reach it
    connection_count_.fetch_sub(1, std::memory_order_relaxed);
    if (registry_.empty()) registry_empty_cv_.notify_all();
  }
}

void Server::scan_idle() {
  const int64_t deadline = now_ms() - int64_t{options_.idle_timeout_seconds} * 1000;
  std::lock_guard lock(registry_mu_);
  for (Connection* conn : registry_) {
    if (conn->idle_exempt_.load(std::memory_order_relaxed)) continue;
    if (conn->last_activity_ms_.load(std::memory_order_relaxed) < deadline) {
      // The owner sees end of stream and closes it on its own thread.
      ::shutdown(conn->fd(), SHUT_RDWR);
    }
  }
}

}  // namespace weasel
