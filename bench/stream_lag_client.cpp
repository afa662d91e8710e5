#include "stream_lag_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "core/assert.hpp"
#include "load_tester/http_protocol.hpp"

namespace weasel::bench {
namespace {

constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxChunkLineBytes = 1024;
constexpr size_t kRecvRoomBytes = 16384;
constexpr int kMaxReadsPerEvent = 16;  // then the other subscribers get their turn

std::optional<uint64_t> parse_uint(std::string_view text, int base = 10) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  return value;
}

bool header_says_chunked(std::string_view head) {
  size_t line_end = head.find("\r\n");
  while (line_end != std::string_view::npos) {
    head.remove_prefix(line_end + 2);
    line_end = head.find("\r\n");
    const std::string_view line = head.substr(0, line_end);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (!load::ascii_iequals(line.substr(0, colon), "transfer-encoding")) continue;
    return line.find("chunked") != std::string_view::npos;
  }
  return false;
}

}  // namespace

SubscriberSet::SubscriberSet(const SubscriberSetOptions& options, EventListener* listener)
    : options_(options), listener_(listener), conns_(options.count) {
  WEASEL_ASSERT(options.count > 0 && options.connect_concurrency > 0);
  const std::string host = fmt::format("{}:{}", options.host, options.port);
  load::ByteBuffer framed(512);
  if (options.kind == StreamKind::kWeasel) {
    const std::string target = "/v1/subscribe" + options.weasel_query;
    const load::HttpHeader headers[] = {{"Accept", "text/event-stream"}};
    load::frame_http_request(framed, "GET", target, host, headers, "");
  } else {
    // key "\0" with range_end "\0": every key from "\0" on, i.e. the whole key space.
    const load::HttpHeader headers[] = {{"Content-Type", "application/json"}};
    load::frame_http_request(framed, "POST", "/v3/watch", host, headers,
                             R"({"create_request":{"key":"AA==","range_end":"AA=="}})");
  }
  request_.assign(framed.view());
}

SubscriberSet::~SubscriberSet() {
  for (Conn& c : conns_) close_fd(c);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

std::string SubscriberSet::start() {
  if (std::string error = load::resolve_target(options_.host, options_.port, target_);
      !error.empty()) {
    return error;
  }
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return fmt::format("epoll_create1: {}", std::strerror(errno));
  return {};
}

uint64_t SubscriberSet::min_live_version() const {
  uint64_t lowest = UINT64_MAX;
  for (const Conn& c : conns_) {
    if (c.state == State::kBody && c.ready) lowest = std::min(lowest, c.last_version);
  }
  return lowest;
}

void SubscriberSet::poll(int timeout_ms) {
  while (connecting_ < options_.connect_concurrency && next_connect_ < conns_.size()) {
    start_connect(next_connect_++);
  }
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  const int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
  for (int i = 0; i < n; ++i) on_socket_event(events[i].data.u32, events[i].events);
}

void SubscriberSet::start_connect(uint32_t index) {
  Conn& c = conns_[index];
  c.fd = ::socket(target_.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return fail(index, fmt::format("socket: {}", std::strerror(errno)));
  if (options_.rcvbuf_bytes > 0) {
    ::setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &options_.rcvbuf_bytes,
                 sizeof(options_.rcvbuf_bytes));
  }
  const int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ++connecting_;
  c.state = State::kConnecting;
  const int rc = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&target_.address),
                           target_.length);
  if (rc != 0 && errno != EINPROGRESS) {
    return fail(index, fmt::format("connect: {}", std::strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u32 = index;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
    fail(index, fmt::format("epoll_ctl: {}", std::strerror(errno)));
  }
}

void SubscriberSet::on_socket_event(uint32_t index, uint32_t events) {
  Conn& c = conns_[index];
  if (c.state == State::kConnecting) {
    int error = 0;
    socklen_t length = sizeof(error);
    ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return fail(index, fmt::format("connect: {}", std::strerror(error)));
    --connecting_;
    ++stats_.connected;
    c.state = State::kSending;
    c.out.append(request_);
  }
  if (c.state == State::kSending && (events & EPOLLOUT)) send_request(index);
  if ((c.state == State::kHead || c.state == State::kBody) &&
      (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
    read_all(index);
  }
}

void SubscriberSet::send_request(uint32_t index) {
  Conn& c = conns_[index];
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT again
    if (n < 0) return fail(index, fmt::format("send: {}", std::strerror(errno)));
    c.out.consume(static_cast<size_t>(n));
  }
  if (!options_.read_stream) {
    // Stalled: never polled again, so the server's writes fill the small receive window.
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    c.state = State::kStalled;
    set_ready(c);
    return;
  }
  c.state = State::kHead;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u32 = index;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev) != 0) {
    fail(index, fmt::format("epoll_ctl: {}", std::strerror(errno)));
  }
}

void SubscriberSet::read_all(uint32_t index) {
  Conn& c = conns_[index];
  for (int reads = 0; reads < kMaxReadsPerEvent; ++reads) {
    char* room = c.in.reserve_back(kRecvRoomBytes);
    const ssize_t n = ::recv(c.fd, room, c.in.back_room(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) return fail(index, fmt::format("recv: {}", std::strerror(errno)));
    if (n == 0) return end_stream(index);
    c.in.commit(static_cast<size_t>(n));
    stats_.bytes += static_cast<uint64_t>(n);
    if (!process_input(index, load::monotonic_now_ns())) return;
  }
}

bool SubscriberSet::process_input(uint32_t index, int64_t now_ns) {
  Conn& c = conns_[index];
  if (c.state == State::kHead && !parse_head(index)) return c.state == State::kHead;
  while (!c.in.empty()) {
    if (!c.chunked) {
      if (!feed(index, c.in.view(), now_ns)) return false;
      c.in.clear();
      return true;
    }
    const std::string_view raw = c.in.view();
    if (c.chunk == Chunk::kSize) {
      const size_t line_end = raw.find("\r\n");
      if (line_end == std::string_view::npos) {
        if (raw.size() > kMaxChunkLineBytes) fail(index, "chunk size line too long");
        return c.state == State::kBody;
      }
      const auto size = parse_uint(raw.substr(0, line_end), 16);
      if (!size) {
        fail(index, "bad chunk size");
        return false;
      }
      c.in.consume(line_end + 2);
      if (*size == 0) {
        end_stream(index);  // the last chunk: the server ended the stream
        return false;
      }
      c.chunk_left = *size;
      c.chunk = Chunk::kData;
    } else if (c.chunk == Chunk::kData) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(c.chunk_left, raw.size()));
      if (!feed(index, raw.substr(0, n), now_ns)) return false;
      c.in.consume(n);
      c.chunk_left -= n;
      if (c.chunk_left == 0) c.chunk = Chunk::kCrlf;
    } else {
      if (raw.size() < 2) return true;
      if (raw.substr(0, 2) != "\r\n") {
        fail(index, "chunk data not followed by CRLF");
        return false;
      }
      c.in.consume(2);
      c.chunk = Chunk::kSize;
    }
  }
  return true;
}

// False while the head is incomplete (state stays kHead) or when it was refused (kDone).
bool SubscriberSet::parse_head(uint32_t index) {
  Conn& c = conns_[index];
  const std::string_view raw = c.in.view();
  const size_t blank = raw.find("\r\n\r\n");
  if (blank == std::string_view::npos) {
    if (raw.size() > kMaxHeadBytes) fail(index, "response head too large");
    return false;
  }
  if (raw.size() < 12 || raw.substr(0, 9) != "HTTP/1.1 " || raw.substr(9, 3) != "200") {
    const size_t line_end = raw.find("\r\n");
    fail(index, fmt::format("stream refused: {} {}", raw.substr(0, line_end),
                            raw.substr(blank + 4, 300)));
    return false;
  }
  c.chunked = header_says_chunked(raw.substr(0, blank));
  c.in.consume(blank + 4);
  c.state = State::kBody;
  return true;
}

bool SubscriberSet::feed(uint32_t index, std::string_view data, int64_t now_ns) {
  Conn& c = conns_[index];
  if (c.event.empty()) {
    // The common case: the data holds whole events; only a torn tail is copied.
    const size_t used = parse_events(index, data, now_ns);
    if (c.state != State::kBody) return false;
    c.event.append(data.substr(used));
  } else {
    c.event.append(data);
    const size_t used = parse_events(index, c.event.view(), now_ns);
    if (c.state != State::kBody) return false;
    c.event.consume(used);
  }
  if (c.event.size() > options_.max_event_bytes) {
    fail(index, "an event longer than --max-event-bytes");
    return false;
  }
  return true;
}

size_t SubscriberSet::parse_events(uint32_t index, std::string_view data, int64_t now_ns) {
  size_t used = 0;
  const bool sse = options_.kind == StreamKind::kWeasel;
  while (used < data.size() && conns_[index].state == State::kBody) {
    const char* begin = data.data() + used;
    const char* const limit = data.data() + data.size();
    // An SSE event ends at a blank line ("\n\n"); an etcd message at its newline.
    const char* nl = static_cast<const char*>(std::memchr(begin, '\n', limit - begin));
    while (sse && nl != nullptr && (nl + 1 == limit || nl[1] != '\n')) {
      nl = static_cast<const char*>(std::memchr(nl + 1, '\n', limit - nl - 1));
    }
    if (nl == nullptr || (sse && nl + 1 == limit)) break;
    const std::string_view item(begin, static_cast<size_t>(nl - begin));
    used = static_cast<size_t>(nl - data.data()) + (sse ? 2 : 1);
    if (sse) {
      handle_weasel_event(index, item, now_ns);
    } else {
      handle_etcd_message(index, item, now_ns);
    }
  }
  return used;
}

void SubscriberSet::handle_weasel_event(uint32_t index, std::string_view event, int64_t now_ns) {
  Conn& c = conns_[index];
  if (event.starts_with("id: ")) {
    const auto version = parse_uint(event.substr(4));
    if (!version || *version <= c.last_version) {
      return fail(index, fmt::format("bad or out-of-order event id: {}", event.substr(0, 40)));
    }
    c.last_version = *version;
    ++stats_.events;
    listener_->on_version(index, *version, now_ns);
  } else if (event.starts_with("event: checkpoint")) {
    set_ready(c);
  } else if (event.starts_with("event: error")) {
    ++stats_.error_events;
    if (stats_.first_error.empty()) stats_.first_error.assign(event.substr(0, 300));
  }
  // `retry:` and `: keepalive` need nothing.
}

void SubscriberSet::handle_etcd_message(uint32_t index, std::string_view message,
                                        int64_t now_ns) {
  Conn& c = conns_[index];
  static constexpr std::string_view kModRevision = R"("mod_revision":")";
  for (size_t at = message.find(kModRevision); at != std::string_view::npos;
       at = message.find(kModRevision, at + 1)) {
    const auto version = parse_uint(message.substr(at + kModRevision.size()));
    if (!version || *version <= c.last_version) {
      return fail(index, fmt::format("bad or out-of-order mod_revision in {}",
                                     message.substr(0, 200)));
    }
    c.last_version = *version;
    ++stats_.events;
    listener_->on_version(index, *version, now_ns);
  }
  if (!c.ready && message.find(R"("created":true)") != std::string_view::npos) set_ready(c);
  if (message.find(R"("canceled":true)") != std::string_view::npos ||
      message.starts_with(R"({"error")")) {
    ++stats_.error_events;
    if (stats_.first_error.empty()) stats_.first_error.assign(message.substr(0, 300));
  }
}

void SubscriberSet::set_ready(Conn& c) {
  if (c.ready) return;
  c.ready = true;
  ++stats_.ready;
}

void SubscriberSet::fail(uint32_t index, std::string_view why) {
  Conn& c = conns_[index];
  if (c.state == State::kConnecting) --connecting_;
  if (stats_.first_error.empty()) stats_.first_error.assign(why);
  if (c.ready) {
    --stats_.ready;  // a ready stream that breaks is a failure, not a delivery
    c.ready = false;
  }
  ++stats_.failed;
  close_fd(c);
  c.state = State::kDone;
}

void SubscriberSet::end_stream(uint32_t index) {
  Conn& c = conns_[index];
  if (c.state != State::kBody || !c.ready) {
    return fail(index, "the server closed the stream before it was ready");
  }
  ++stats_.closed_by_server;
  close_fd(c);
  c.state = State::kDone;
}

void SubscriberSet::close_fd(Conn& c) {
  if (c.fd < 0) return;
  ::close(c.fd);  // also leaves the epoll set
  c.fd = -1;
}

}  // namespace weasel::bench
