#pragma once
// The protocol side of the server. The Server owns sockets and threads and knows nothing of
// HTTP; a ConnectionHandler turns bytes into work. All callbacks run on the thread that owns
// the connection at that moment (an I/O thread, or whoever released it back to the server).
//
// Ownership: a callback that receives `std::unique_ptr<Connection>& conn_ptr` (or the span
// of on_batch_end) may take the connection to process it elsewhere, with
// `Server::take(conn_ptr)` (which parks it in epoll; moving the pointer out by hand is
// a bug the server asserts on); it must later hand it back with
// Server::release_back_to_server, which flushes its output and gives it back to epoll.
// While a handler holds a connection, the server never touches it.

#include <memory>
#include <span>

namespace weasel {

class Connection;

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;

  // A connection was accepted (before any byte is read).
  virtual void on_connection_established(Connection& /*conn*/) {}
  // The connection is about to be destroyed (its fd is still open).
  virtual void on_connection_closed(Connection& /*conn*/) {}
  // New bytes were appended to conn's input buffer (or unconsumed input remains after a
  // connection came back from a handler).
  virtual void on_data_arrived(std::unique_ptr<Connection>& conn_ptr) = 0;
  // The output buffer drained completely (for streaming protocols).
  virtual void on_write_progress(std::unique_ptr<Connection>& /*conn_ptr*/) {}
  // After one epoll batch was processed: every connection still owned by the I/O thread.
  // Lets a handler hand several connections to a pipeline in one step.
  virtual void on_batch_end(std::span<std::unique_ptr<Connection>> /*batch*/) {}
};

}  // namespace weasel
