#pragma once
// Responder: an in-process server on a loopback port for the load tester's tests (test-only).
//
// Contract: blocking sockets, one thread per connection. Each complete request at the front
// of a connection's input (as delimited by the framer: HTTP by default) is answered, in
// order, with handler(request); pipelined requests get their answers in one write. With
// close_every > 0 (HTTP only), the close_every-th answer on a connection carries
// "Connection: close" and the connection is then closed the way nginx does it (shutdown,
// drain, close), so that no answer is ever lost to a reset. The handler runs on the
// connection threads, concurrently: it must be thread-safe. stop() stops accepting and joins
// every connection thread; the load tester must have closed its connections by then (it has,
// once run_load() returned). Every request seen is kept (requests()), for checks after stop().

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <atomic>
#include <cerrno>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace weasel::load::testing {

// Length of the complete request at the front of `in`, or 0 when it is not complete yet.
using RequestFramer = std::function<size_t(std::string_view in)>;
using RequestHandler = std::function<std::string(std::string_view request)>;

// HTTP requests with an optional Content-Length body (what the load tester sends).
inline size_t http_request_length(std::string_view in) {
  const size_t blank = in.find("\r\n\r\n");
  if (blank == std::string_view::npos) return 0;
  size_t body = 0;
  const size_t header = in.find("Content-Length: ");
  if (header != std::string_view::npos && header < blank) {
    body = std::stoul(std::string(in.substr(header + 16, 20)));
  }
  return in.size() >= blank + 4 + body ? blank + 4 + body : 0;
}

class Responder {
 public:
  // Answers every request with `response`.
  explicit Responder(std::string response, uint32_t close_every = 0)
      : Responder([response](std::string_view) { return response; }, http_request_length,
                  close_every) {}

  Responder(RequestHandler handler, RequestFramer framer, uint32_t close_every = 0)
      : handler_(std::move(handler)), framer_(std::move(framer)), close_every_(close_every) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    REQUIRE(listen(listen_fd_, 128) == 0);
    socklen_t length = sizeof(address);
    REQUIRE(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~Responder() { stop(); }
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  uint16_t port() const { return port_; }

  // Stops accepting and waits until every accepted connection has ended. Returns the number
  // of answers sent.
  uint64_t stop() {
    if (listen_fd_ >= 0) {
      shutdown(listen_fd_, SHUT_RDWR);  // wakes accept() with an error
      acceptor_.join();
      for (std::thread& worker : workers_) worker.join();
      close(listen_fd_);
      listen_fd_ = -1;
    }
    return answered_.load();
  }

  // Every request received, in the order answered (interleaved across connections). Call
  // after stop().
  const std::vector<std::string>& requests() const { return requests_; }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
      if (fd < 0) return;
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  static void write_all(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) return;  // the client went away; nothing left to answer
      done += static_cast<size_t>(n);
    }
  }

  // The answer to `request`; "Connection: close" inserted after the status line if closing.
  std::string answer(std::string_view request, bool closing) {
    {
      const std::lock_guard lock(mu_);
      requests_.emplace_back(request);
    }
    std::string response = handler_(request);
    if (closing) response.insert(response.find("\r\n") + 2, "Connection: close\r\n");
    return response;
  }

  void serve(int fd) {
    std::string in;
    std::string out;
    char chunk[4096];
    uint32_t answered_here = 0;
    bool closing = false;
    while (!closing) {
      const ssize_t n = read(fd, chunk, sizeof(chunk));
      if (n <= 0) break;
      in.append(chunk, static_cast<size_t>(n));
      out.clear();
      for (size_t length; !closing && (length = framer_(in)) > 0;) {
        answered_here += 1;
        closing = close_every_ > 0 && answered_here % close_every_ == 0;
        out += answer(std::string_view(in).substr(0, length), closing);
        in.erase(0, length);
        answered_ += 1;
      }
      write_all(fd, out);
    }
    if (closing) {
      shutdown(fd, SHUT_WR);
      while (read(fd, chunk, sizeof(chunk)) > 0) {
      }
    }
    close(fd);
  }

  const RequestHandler handler_;
  const RequestFramer framer_;
  const uint32_t close_every_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> workers_;  // touched by the acceptor only, until stop() joins it
  std::atomic<uint64_t> answered_{0};
  std::mutex mu_;
  std::vector<std::string> requests_;
};

}  // namespace weasel::load::testing
