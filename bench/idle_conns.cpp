// idle_conns: opens N keep-alive connections, proves each one works, then holds them idle.
//
// Helper of bench/idle_connections.sh. Each connection sends one `GET PATH` and must get a 2xx
// answer; then it stays open and silent. Once every connection has answered or failed, one
// line goes to stdout:
//   ready connections=N established=E failed=F connect_errors=.. non_2xx=.. closed=.. ...
// and the connections are held until stdin (a pipe or terminal) reaches EOF: the script
// closes it after measuring the server. A server that closes an idle connection meanwhile is
// counted. The last line is
//   done closed_while_idle=K
// Exit status 0 only when all N were established and none closed while idle.
// Non-blocking sockets over one epoll set; at most --concurrency connects in progress, so the
// server's accept queue is not flooded.

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/assert.hpp"
#include "load_tester/byte_buffer.hpp"
#include "load_tester/http_protocol.hpp"

namespace {

using weasel::load::ByteBuffer;

struct Options {
  std::string host;
  std::string port;
  uint32_t connections = 10'000;
  uint32_t concurrency = 256;
  uint32_t timeout_s = 120;
  std::string path = "/health";
};

enum class State : uint8_t { kNew, kConnecting, kAwaiting, kIdle, kFailed };

struct Conn {
  int fd = -1;
  State state = State::kNew;
  ByteBuffer in{512};
};

struct Counts {
  uint32_t established = 0;
  uint32_t connect_errors = 0;
  uint32_t non_2xx = 0;
  uint32_t closed = 0;
  uint32_t malformed = 0;
  uint32_t timeouts = 0;
  uint32_t closed_while_idle = 0;
  int first_errno = 0;
  uint32_t failed() const { return connect_errors + non_2xx + closed + malformed + timeouts; }
};

bool parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view name = argv[i];
    const std::string_view value = argv[i + 1];
    auto number = [&](uint32_t& out) {
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
      return ec == std::errc() && end == value.data() + value.size() && out > 0;
    };
    if (name == "--target") {
      const size_t colon = value.rfind(':');
      if (colon == std::string_view::npos || colon == 0) return false;
      o.host.assign(value.substr(0, colon));
      o.port.assign(value.substr(colon + 1));
    } else if (name == "--connections") {
      if (!number(o.connections)) return false;
    } else if (name == "--concurrency") {
      if (!number(o.concurrency)) return false;
    } else if (name == "--timeout-s") {
      if (!number(o.timeout_s)) return false;
    } else if (name == "--path") {
      o.path.assign(value);
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && !o.host.empty() && !o.port.empty();
}

// Raises the soft descriptor limit to the hard one; fails when that is still too low.
bool raise_fd_limit(uint32_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  return limit.rlim_cur >= needed;
}

class Holder {
 public:
  Holder(const Options& options, const addrinfo& target)
      : options_(options), target_(target), conns_(options.connections) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    WEASEL_ASSERT(epoll_fd_ >= 0);
    ByteBuffer framed(256);
    const std::string host = options.host + ":" + options.port;
    weasel::load::frame_http_request(framed, "GET", options.path, host, {}, "");
    request_.assign(framed.view());
  }

  ~Holder() {
    for (Conn& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    close(epoll_fd_);
  }

  // Opens and checks every connection; returns when each is idle or failed.
  void establish() {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(options_.timeout_s);
    epoll_event events[256];
    while (done_ < conns_.size()) {
      while (in_progress_ < options_.concurrency && next_ < conns_.size()) start(next_++);
      if (std::chrono::steady_clock::now() >= deadline) break;
      const int ready = epoll_wait(epoll_fd_, events, 256, 100);
      for (int i = 0; i < ready; ++i) on_event(events[i].data.u32, events[i].events);
    }
    for (uint32_t i = 0; i < conns_.size(); ++i) {  // what the deadline cut short
      if (conns_[i].state != State::kIdle && conns_[i].state != State::kFailed) {
        fail(i, counts_.timeouts);
      }
    }
  }

  // Holds the idle connections until stdin reaches EOF, counting those the server closes.
  // Returns at once when there is nothing to hold or stdin cannot be polled (a regular file
  // or /dev/null), since nothing could then release it.
  void hold() {
    if (counts_.established == 0) return;
    epoll_event stdin_event{};
    stdin_event.events = EPOLLIN;
    stdin_event.data.u32 = UINT32_MAX;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, 0, &stdin_event) != 0) return;
    epoll_event events[256];
    for (;;) {
      const int ready = epoll_wait(epoll_fd_, events, 256, -1);
      if (ready < 0 && errno != EINTR) return;
      for (int i = 0; i < ready; ++i) {
        if (events[i].data.u32 == UINT32_MAX) {
          char sink[256];
          if (read(0, sink, sizeof(sink)) <= 0) return;
          continue;
        }
        Conn& c = conns_[events[i].data.u32];
        if (c.fd < 0) continue;
        close(c.fd);
        c.fd = -1;
        counts_.closed_while_idle += 1;
      }
    }
  }

  const Counts& counts() const { return counts_; }

 private:
  void start(uint32_t i) {
    Conn& c = conns_[i];
    in_progress_ += 1;
    c.state = State::kConnecting;
    c.fd = socket(target_.ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return connect_error(i, errno);
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u32 = i;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) return connect_error(i, errno);
    if (connect(c.fd, target_.ai_addr, target_.ai_addrlen) != 0 && errno != EINPROGRESS) {
      return connect_error(i, errno);
    }
  }

  void on_event(uint32_t i, uint32_t events) {
    Conn& c = conns_[i];
    if (c.state == State::kConnecting) {
      int error = 0;
      socklen_t length = sizeof(error);
      if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
      if (error != 0) return connect_error(i, error);
      // A GET of a few dozen bytes fits an empty socket buffer: one send is the whole request.
      if (send(c.fd, request_.data(), request_.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request_.size())) {
        return fail(i, counts_.closed);
      }
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.u32 = i;
      WEASEL_ASSERT(epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev) == 0);
      c.state = State::kAwaiting;
      return;
    }
    if (c.state != State::kAwaiting ||
        (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) == 0) {
      return;
    }
    char* room = c.in.reserve_back(512);
    const ssize_t n = recv(c.fd, room, c.in.back_room(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n > 0) c.in.commit(static_cast<size_t>(n));
    const weasel::load::ScanResult scan =
        weasel::load::HttpProtocol().scan_response(c.in.view(), {}, n <= 0);
    if (scan.status == weasel::load::ScanStatus::kIncomplete) {
      if (n <= 0) fail(i, counts_.closed);
      return;
    }
    if (scan.status == weasel::load::ScanStatus::kMalformed) return fail(i, counts_.malformed);
    const int code = scan.response.status_code;
    if (code < 200 || code >= 300) return fail(i, counts_.non_2xx);
    if (scan.response.close_after || scan.length != c.in.size()) return fail(i, counts_.closed);
    c.state = State::kIdle;
    c.in = ByteBuffer(16);  // give the response memory back: the connection stays silent
    counts_.established += 1;
    finish_one();
  }

  void connect_error(uint32_t i, int error) {
    if (counts_.first_errno == 0) counts_.first_errno = error;
    fail(i, counts_.connect_errors);
  }

  void fail(uint32_t i, uint32_t& counter) {
    Conn& c = conns_[i];
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    const bool was_started = c.state != State::kNew;
    c.state = State::kFailed;
    counter += 1;
    if (was_started) {
      finish_one();
    } else {
      done_ += 1;  // cut short by the deadline before it was started
    }
  }

  void finish_one() {
    WEASEL_ASSERT(in_progress_ > 0);
    in_progress_ -= 1;
    done_ += 1;
  }

  const Options& options_;
  const addrinfo& target_;
  std::vector<Conn> conns_;
  std::string request_;
  int epoll_fd_ = -1;
  uint32_t next_ = 0;
  uint32_t in_progress_ = 0;
  uint32_t done_ = 0;
  Counts counts_;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse_options(argc, argv, options)) {
    std::fprintf(stderr,
                 "usage: idle_conns --target HOST:PORT [--connections N] [--path P]"
                 " [--concurrency C] [--timeout-s S]\n");
    return 2;
  }
  if (!raise_fd_limit(options.connections + 64)) {
    std::fprintf(stderr, "idle_conns: the descriptor limit is below %u (raise ulimit -Hn)\n",
                 options.connections + 64);
    return 2;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* target = nullptr;
  if (const int rc = getaddrinfo(options.host.c_str(), options.port.c_str(), &hints, &target)) {
    std::fprintf(stderr, "idle_conns: cannot resolve %s: %s\n", options.host.c_str(),
                 gai_strerror(rc));
    return 2;
  }
  int status = 1;
  {
    Holder holder(options, *target);
    const auto start = std::chrono::steady_clock::now();
    holder.establish();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const Counts& c = holder.counts();
    std::printf(
        "ready connections=%u established=%u failed=%u connect_errors=%u non_2xx=%u closed=%u "
        "malformed=%u timeouts=%u first_error=\"%s\" elapsed_ms=%lld\n",
        options.connections, c.established, c.failed(), c.connect_errors, c.non_2xx, c.closed,
        c.malformed, c.timeouts, c.first_errno ? std::strerror(c.first_errno) : "",
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
    std::fflush(stdout);
    holder.hold();
    std::printf("done closed_while_idle=%u\n", c.closed_while_idle);
    status = (c.established == options.connections && c.closed_while_idle == 0) ? 0 : 1;
  }
  freeaddrinfo(target);
  return status;
}
