#pragma once
// The epoll server: `io_threads` threads over `epoll_instances` epoll sets (thread i waits on
// set i % epoll_instances). Listeners are in every set with EPOLLEXCLUSIVE. Exactly one thread
// owns a connection at any time; a handler can carry it to another thread and back (see
// connection_handler.hpp). How a set guarantees that depends on how many threads wait on it:
// - one thread per set (io_threads == epoll_instances, the default 1/1): connections stay
//   registered edge-triggered (EPOLLET) while the set's thread owns them, so a request costs
//   no epoll_ctl. Server::take parks a connection before it leaves the thread (EPOLL_CTL_MOD:
//   its event data becomes a tag instead of the pointer, no read/write events);
//   release_back_to_server re-registers it (EPOLL_CTL_MOD evaluates readiness, so bytes that
//   arrived while it was away raise an event).
// - several threads per set: EPOLLONESHOT, re-armed (EPOLL_CTL_MOD) after every round, so
//   the event that wakes one thread disarms the connection for all others.
//
// Created only through Server::create (it must live in a shared_ptr: connections hold a
// weak_ptr so that returning one after the server is gone is safe).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "net/connection.hpp"
#include "net/connection_handler.hpp"

namespace weasel {

struct ListenAddress {
  enum class Kind { kTcp, kUnix } kind = Kind::kTcp;
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 = any free port (see Server::bound_addresses)
  std::string path;      // unix socket path
};

struct ServerOptions {
  std::vector<ListenAddress> listen;
  int io_threads = 1;
  int epoll_instances = 1;
  int event_batch_size = 32;
  int max_connections = 10000;
  size_t read_buffer_size = 16384;
  // Reading pauses while a connection has this much unread input or unwritten output, so a
  // client that pipelines without reading cannot make the server buffer without bound.
  size_t max_buffered_bytes = (1 << 20) + 65536;
  int idle_timeout_seconds = 300;
  int shutdown_timeout_seconds = 30;
  // Bytes sent (best effort) to a connection refused because of max_connections, before it
  // is closed; the protocol layer fills it (HTTP: a 503 response).
  std::string refuse_message;
};

class Server : public std::enable_shared_from_this<Server> {
 public:
  // Binds every listener (errors throw std::system_error naming the address).
  static std::shared_ptr<Server> create(const ServerOptions& options,
                                        std::shared_ptr<ConnectionHandler> handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts the I/O threads.
  void start();
  // Graceful stop: closes the listeners, lets requests in progress finish and their answers
  // go out, closes connections, and joins the threads. Blocks until done (bounded by
  // shutdown_timeout_seconds, after which remaining connections are closed).
  void stop();

  // Hands a connection taken by a handler back: writes its pending output, then re-arms it
  // (or closes it if the protocol asked for that). Callable from any thread. If the server is
  // gone, the connection is simply closed. It holds a reference to the server while it runs,
  // so whoever owns the server must stop the threads that call this before dropping the last
  // reference (otherwise ~Server could run on such a thread and join it).
  static void release_back_to_server(std::unique_ptr<Connection> conn);

  // The only way for a handler to take a connection away from the I/O thread that runs the
  // callback (`conn_ptr` is the callback's argument, or an element of on_batch_end's span):
  // parks it in its epoll set, so that no event hands it to an I/O thread while another
  // thread owns it, and returns it. Moving the unique_ptr out by hand is a bug that the I/O
  // loop catches with an assertion.
  static std::unique_ptr<Connection> take(std::unique_ptr<Connection>& conn_ptr);

  // "host:port" (with the actual port when 0 was asked for) or "unix:/path", per listener.
  std::vector<std::string> bound_addresses() const;
  int connection_count() const { return connection_count_.load(std::memory_order_relaxed); }
  uint64_t connections_refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  Server(const ServerOptions& options, std::shared_ptr<ConnectionHandler> handler);
  void bind_listeners();
  void io_loop(int thread_index);
  void accept_ready(int listen_fd, int epoll_fd);
  // Reads and runs the handler; returns the connection if the I/O thread still owns it.
  void process_event(std::unique_ptr<Connection>& conn, uint32_t events);
  // Writes output, then re-arms or destroys the connection. Takes ownership.
  void finish_round(std::unique_ptr<Connection> conn, bool from_handler);
  void rearm_oneshot(std::unique_ptr<Connection> conn, bool from_handler, bool may_read);
  void rearm_edge(std::unique_ptr<Connection> conn, bool from_handler, bool may_read);
  // Gives the connection to epoll with EPOLL_CTL_ADD or _MOD; destroys it if that fails.
  void arm(std::unique_ptr<Connection> conn, int op, uint32_t events);
  void destroy(std::unique_ptr<Connection> conn);
  void scan_idle();
  void wake_all();
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  const ServerOptions options_;
  const std::shared_ptr<ConnectionHandler> handler_;
  // One thread per epoll set: connections registered edge-triggered (see the top of file).
  const bool edge_triggered_;
  std::vector<int> listen_fds_;
  std::vector<std::string> bound_;
  std::vector<int> epoll_fds_;
  std::vector<int> wake_fds_;  // one eventfd per epoll set
  int timer_fd_ = -1;          // idle scan tick, in epoll set 0
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> threads_exit_{false};
  std::atomic<int> connection_count_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> next_id_{1};

  // Every live connection, so the idle scanner and stop() can reach connections parked in
  // epoll. A connection leaves the set (under the mutex) before its fd is closed, so a
  // ::shutdown() issued under the mutex never hits a reused fd.
  mutable std::mutex registry_mu_;
  std::unordered_set<Connection*> registry_;
  std::condition_variable registry_empty_cv_;
};

}  // namespace weasel
