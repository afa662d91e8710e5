// A deliberately minimal HTTP/1.1 keep-alive responder, to find the ceiling of the HTTP
// benchmark (bench/http_vs_nginx.sh --ceiling): one thread, every request answered with the
// same fixed response, no parsing beyond finding the end of the head ("\r\n\r\n"), no
// allocation per request. It is not part of the product and only serves GET requests without
// a body, as wrk and load_tester send them.
//
//   min_responder epoll PORT BODY_BYTES   edge-triggered epoll: one read + one send per
//                                         request, no epoll_ctl after accept (what weaseldb's
//                                         I/O loop now does, minus HTTP and the API)
//   min_responder uring PORT BODY_BYTES   io_uring: multishot accept, multishot recv into a
//                                         provided-buffer ring, sends without completions,
//                                         one io_uring_enter per batch of completions
//
// Build (bench/http_vs_nginx.sh does it): g++ -O2 -std=c++20 min_responder.cpp -luring
// (without liburing-dev: add -DMIN_RESPONDER_NO_URING and only the epoll mode is built).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#ifndef MIN_RESPONDER_NO_URING
#include <liburing.h>
#endif

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "min_responder: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// Same shape as weaseldb's answer to GET /v1/version: status line, Date, Content-Type,
// Content-Length, a JSON body of BODY_BYTES. The Date is fixed at start (a ceiling, not a
// server).
std::string make_response(size_t body_bytes) {
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&now));
  std::string body = "{\"version\":0,\"leader_id\":\"";
  while (body.size() + 2 < body_bytes) body += 'x';
  body += "\"}";
  return "HTTP/1.1 200 OK\r\nDate: " + std::string(date) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

int listen_on(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) die("bind");
  if (::listen(fd, SOMAXCONN) != 0) die("listen");
  return fd;
}

// Per connection: how far into a "\r\n\r\n" the previous read ended, so heads split across
// reads are counted once.
struct HeadCounter {
  int matched = 0;
  // Number of complete request heads in [data, data + n).
  int count(const char* data, size_t n) {
    static constexpr char kEnd[] = "\r\n\r\n";
    int heads = 0;
    for (size_t i = 0; i < n; ++i) {
      if (data[i] == kEnd[matched]) {
        if (++matched == 4) {
          ++heads;
          matched = 0;
        }
      } else {
        matched = data[i] == '\r' ? 1 : 0;
      }
    }
    return heads;
  }
};

// `heads` copies of the response, contiguous, for pipelined requests (rare with wrk).
std::string_view responses(const std::string& one, std::string& scratch, int heads) {
  if (heads == 1) return one;
  scratch.clear();
  for (int i = 0; i < heads; ++i) scratch += one;
  return scratch;
}

void run_epoll(int lfd, const std::string& response) {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.fd = lfd;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) die("epoll_ctl listener");
  std::vector<HeadCounter> conns(65536);
  std::string scratch;
  char buf[16384];
  epoll_event events[64];
  for (;;) {
    const int n = epoll_wait(ep, events, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          const int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (static_cast<size_t>(c) >= conns.size()) {
            ::close(c);
            continue;
          }
          const int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          conns[static_cast<size_t>(c)] = HeadCounter{};
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
          ev.data.fd = c;
          if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) != 0) ::close(c);
        }
        continue;
      }
      // Edge-triggered: read until a short read (the socket is then drained).
      bool closed = false;
      for (;;) {
        const ssize_t got = ::read(fd, buf, sizeof(buf));
        if (got <= 0) {
          closed = got == 0 || (errno != EAGAIN && errno != EINTR);
          break;
        }
        const int heads = conns[static_cast<size_t>(fd)].count(buf, static_cast<size_t>(got));
        if (heads > 0) {
          const std::string_view out = responses(response, scratch, heads);
          // Tiny responses into an empty send buffer: a short write means a client that does
          // not read, which this benchmark responder simply drops.
          if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) !=
              static_cast<ssize_t>(out.size())) {
            closed = true;
            break;
          }
        }
        if (static_cast<size_t>(got) < sizeof(buf)) break;
      }
      if (closed) ::close(fd);
    }
  }
}

#ifndef MIN_RESPONDER_NO_URING
constexpr uint64_t kAccept = 0;
constexpr uint64_t kRecv = 1;
constexpr uint64_t kSend = 2;
constexpr unsigned kBufferCount = 1024;  // provided receive buffers (power of two)
constexpr unsigned kBufferBytes = 4096;

io_uring_sqe* get_sqe(io_uring& ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) {
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  if (sqe == nullptr) die("io_uring_get_sqe");
  return sqe;
}

void arm_recv(io_uring& ring, int fd) {
  io_uring_sqe* sqe = get_sqe(ring);
  io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = 0;
  io_uring_sqe_set_data64(sqe, (static_cast<uint64_t>(fd) << 2) | kRecv);
}

void run_uring(int lfd, const std::string& response) {
  io_uring ring;
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (const int rc = io_uring_queue_init_params(4096, &ring, &params); rc < 0) {
    errno = -rc;
    die("io_uring_queue_init_params");
  }
  // Provided-buffer ring: the kernel picks a buffer per completion, so idle connections
  // hold none (like weaseldb's input buffers).
  void* mem = nullptr;
  const size_t ring_bytes = kBufferCount * sizeof(io_uring_buf);
  if (posix_memalign(&mem, 4096, ring_bytes) != 0) die("posix_memalign");
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(br);
  reg.ring_entries = kBufferCount;
  reg.bgid = 0;
  if (const int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc < 0) {
    errno = -rc;
    die("io_uring_register_buf_ring");
  }
  std::vector<char> buffers(size_t{kBufferCount} * kBufferBytes);
  const int mask = io_uring_buf_ring_mask(kBufferCount);
  for (unsigned i = 0; i < kBufferCount; ++i) {
    io_uring_buf_ring_add(br, buffers.data() + size_t{i} * kBufferBytes, kBufferBytes,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(br, static_cast<int>(kBufferCount));

  io_uring_sqe* sqe = get_sqe(ring);
  io_uring_prep_multishot_accept(sqe, lfd, nullptr, nullptr, 0);
  io_uring_sqe_set_data64(sqe, kAccept);
  std::vector<HeadCounter> conns(65536);
  std::vector<std::string> pipelined(65536);
  for (;;) {
    if (const int rc = io_uring_submit_and_wait(&ring, 1); rc < 0 && rc != -EINTR) {
      errno = -rc;
      die("io_uring_submit_and_wait");
    }
    io_uring_cqe* cqe;
    unsigned head;
    unsigned seen = 0;
    int recycled = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      const uint64_t data = io_uring_cqe_get_data64(cqe);
      const int fd = static_cast<int>(data >> 2);
      switch (data & 3) {
        case kAccept: {
          if (cqe->res >= 0) {
            const int c = cqe->res;
            const int one = 1;
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            conns[static_cast<size_t>(c)] = HeadCounter{};
            arm_recv(ring, c);
          }
          if (!(cqe->flags & IORING_CQE_F_MORE)) {
            sqe = get_sqe(ring);
            io_uring_prep_multishot_accept(sqe, lfd, nullptr, nullptr, 0);
            io_uring_sqe_set_data64(sqe, kAccept);
          }
          break;
        }
        case kRecv: {
          if (cqe->res <= 0) {
            if (cqe->res == -ENOBUFS) {
              arm_recv(ring, fd);  // out of buffers for a moment: try again
            } else {
              ::close(fd);
            }
            break;
          }
          const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
          const char* data_ptr = buffers.data() + size_t{bid} * kBufferBytes;
          const int heads =
              conns[static_cast<size_t>(fd)].count(data_ptr, static_cast<size_t>(cqe->res));
          io_uring_buf_ring_add(br, const_cast<char*>(data_ptr), kBufferBytes,
                                static_cast<unsigned short>(bid), mask, recycled++);
          if (heads > 0) {
            // The response bytes must stay valid until the send completes: the single
            // response is static; pipelined batches get a per-connection string.
            std::string_view out = response;
            if (heads > 1) out = responses(response, pipelined[static_cast<size_t>(fd)], heads);
            sqe = get_sqe(ring);
            io_uring_prep_send(sqe, fd, out.data(), out.size(), MSG_NOSIGNAL);
            sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;  // only failures complete
            io_uring_sqe_set_data64(sqe, (static_cast<uint64_t>(fd) << 2) | kSend);
          }
          if (!(cqe->flags & IORING_CQE_F_MORE)) arm_recv(ring, fd);
          break;
        }
        default:
          break;  // a failed send: the recv side sees the close
      }
    }
    if (recycled > 0) io_uring_buf_ring_advance(br, recycled);
    io_uring_cq_advance(&ring, seen);
  }
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: min_responder epoll|uring PORT BODY_BYTES\n");
    return 2;
  }
  const std::string_view mode = argv[1];
  const int lfd = listen_on(static_cast<uint16_t>(std::atoi(argv[2])));
  const std::string response = make_response(static_cast<size_t>(std::atoi(argv[3])));
  if (mode == "epoll") run_epoll(lfd, response);
#ifndef MIN_RESPONDER_NO_URING
  if (mode == "uring") run_uring(lfd, response);
#endif
  std::fprintf(stderr, "min_responder: unknown or unavailable mode %s\n", argv[1]);
  return 2;
}
