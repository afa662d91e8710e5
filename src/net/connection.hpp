#pragma once
// A client connection. Only the Server creates connections; exactly one thread owns a
// connection at any time (see connection_handler.hpp), so a Connection needs no locks except
// for the few atomics the server's idle scanner reads.
//
// Memory: the input buffer holds unconsumed bytes (requests parse in place, zero-copy), the
// output buffer holds bytes not yet written, and the arena holds request-scoped data; it is
// reset by the protocol when no request is in progress.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/arena.hpp"

namespace weasel {

class Server;
class ConnectionHandler;

// A byte buffer with a read position, so consuming a prefix is O(1) and compaction is rare.
// At least kPaddingBytes of readable (unspecified) bytes always follow the data, so a view of
// the data — a request body parsed in place — can be handed to SIMD parsers that read past
// the end (simdjson needs 64).
class InputBuffer {
 public:
  static constexpr size_t kPaddingBytes = 64;

  char* data() { return storage_.get() + read_pos_; }
  size_t size() const { return write_pos_ - read_pos_; }
  bool empty() const { return size() == 0; }
  // Makes room for at least `bytes` more at the end (plus the padding); returns where to write.
  char* prepare(size_t bytes);
  void commit(size_t bytes) { write_pos_ += bytes; }
  void consume(size_t bytes);
  size_t capacity() const { return capacity_; }
  // Gives the storage up when no unconsumed byte is left (idle connections hold no buffer).
  // A few emptied buffers are parked per thread and reused by the next buffer that fills on
  // that thread, so a keep-alive request allocates nothing.
  void release_if_empty();

 private:
  // Uninitialized heap storage: untouched pages cost no RSS, which matters with 10,000 idle
  // connections; it is released whenever the buffer empties (see release_if_empty).
  std::unique_ptr<char[]> storage_;
  size_t capacity_ = 0;
  size_t read_pos_ = 0;
  size_t write_pos_ = 0;
};

class Connection {
 public:
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uint64_t id() const { return id_; }
  int fd() const { return fd_; }
  std::string_view peer() const { return peer_; }

  InputBuffer& input() { return input_; }
  // Bytes queued here are written by the server when the handler returns (or when the
  // connection is released back to the server).
  std::string& output() { return output_; }
  size_t output_pending() const { return output_.size() - output_pos_; }
  // Removes and returns the output not yet written (for a handler that writes to the socket
  // itself while it owns the connection, such as a stream).
  std::string take_output();
  Arena& arena() { return arena_; }

  // The protocol asks to close the connection once its output has been written.
  void close_after_write() { close_after_write_ = true; }
  bool closing() const { return close_after_write_; }
  // Long-lived streams (SSE) are not idle even when the client sends nothing.
  void set_idle_timeout_exempt(bool exempt) { idle_exempt_.store(exempt, std::memory_order_relaxed); }
  bool peer_closed() const { return peer_closed_; }

  // Protocol-specific state, owned by the handler (created in on_connection_established,
  // destroyed in on_connection_closed).
  void* user_data = nullptr;

 private:
  friend class Server;
  Connection(uint64_t id, int fd, std::string peer, int epoll_fd, std::weak_ptr<Server> server);

  enum class IoResult { kOk, kWouldBlock, kClosed, kError };
  // Reads what the socket has (bounded by `max_bytes`); sets peer_closed_ on EOF and clears
  // read_hint_ once the socket is known to be drained (short read, EAGAIN, EOF, error).
  IoResult read_available(size_t chunk_bytes, size_t max_bytes);
  // Writes as much pending output as the socket takes.
  IoResult flush();

  const uint64_t id_;
  const int fd_;
  const std::string peer_;
  const int epoll_fd_;
  const std::weak_ptr<Server> server_;
  InputBuffer input_;
  std::string output_;
  size_t output_pos_ = 0;
  Arena arena_;
  bool close_after_write_ = false;
  bool peer_closed_ = false;
  // Edge-triggered mode (one thread per epoll set, see server.hpp): whether the fd is in its
  // epoll set, with which events, and whether the socket may still hold unread bytes (an edge
  // was seen and no read has come back short since).
  bool registered_ = false;
  uint32_t armed_events_ = 0;
  bool read_hint_ = false;
  // Ownership passes between threads through epoll (epoll_ctl re-arms, epoll_wait hands the
  // pointer to another thread). The kernel orders those, but sanitizers cannot see it, so the
  // hand-off also goes through this release/acquire pair (a plain store and load on x86).
  std::atomic<uint32_t> handoff_{0};
  // Read by the idle scanner without owning the connection.
  std::atomic<int64_t> last_activity_ms_{0};
  std::atomic<bool> idle_exempt_{false};
};

}  // namespace weasel
