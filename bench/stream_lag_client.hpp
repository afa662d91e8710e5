#pragma once
// SubscriberSet: many change-stream subscribers over one epoll set, for bench/stream_lag.
//
// Contract: a SubscriberSet owns its sockets, buffers and epoll instance and is driven by one
// thread (the one that calls start() and poll()). Each subscriber opens one HTTP/1.1
// connection and one stream:
//   kWeasel  GET /v1/subscribe<query>   Server-Sent Events; a transaction event starts with
//            `id: <version>`; the subscriber is ready once the first `checkpoint` arrives
//            (the hub sends one when the stream reaches the live tail).
//   kEtcd    POST /v3/watch {"create_request":{"key":"\0","range_end":"\0"}} on etcd's JSON
//            gateway: newline-delimited JSON messages, one per watch response; ready once the
//            `"created":true` message arrives; every event's kv.mod_revision is a version.
// The body may be chunked (it always is from both servers) or run until the close. Every
// version found is reported to the EventListener with the monotonic time of the recv() that
// completed it, in stream order. With read_stream = false (a stalled subscriber) the request
// is sent and the socket is then never read again (and no longer polled); such a subscriber
// counts as ready once its request is written.
// Buffers are allocated per connection up front and grow only for longer events, so steady
// streaming allocates nothing per event.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "load_tester/byte_buffer.hpp"
#include "load_tester/load_thread.hpp"

namespace weasel::bench {

enum class StreamKind : uint8_t { kWeasel, kEtcd };

struct SubscriberSetOptions {
  StreamKind kind = StreamKind::kWeasel;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  uint32_t count = 100;
  uint32_t connect_concurrency = 128;  // connects in progress at most
  int rcvbuf_bytes = 0;                // SO_RCVBUF before connect; 0: the kernel default
  bool read_stream = true;             // false: stalled, never reads after the request
  size_t max_event_bytes = size_t{4} << 20;  // a longer event or message is a protocol error
  std::string weasel_query;                  // appended to /v1/subscribe, e.g. "?durable=false"
};

class EventListener {
 public:
  virtual ~EventListener() = default;
  // Called from the polling thread for every version streamed to `subscriber`.
  virtual void on_version(uint32_t subscriber, uint64_t version, int64_t recv_ns) = 0;
};

struct SubscriberStats {
  uint32_t connected = 0;
  uint32_t ready = 0;
  uint32_t failed = 0;             // connect errors, non-200 answers, malformed streams
  uint32_t closed_by_server = 0;   // streams the server ended after they were ready
  uint32_t error_events = 0;       // weasel `event: error`, etcd canceled watches
  uint64_t bytes = 0;              // bytes received
  uint64_t events = 0;             // versions reported
  std::string first_error;         // the first failure or error event, for the report
};

class SubscriberSet {
 public:
  SubscriberSet(const SubscriberSetOptions& options, EventListener* listener);
  ~SubscriberSet();
  SubscriberSet(const SubscriberSet&) = delete;
  SubscriberSet& operator=(const SubscriberSet&) = delete;

  // Resolves the target and creates the epoll set. Empty on success, else why not.
  std::string start();
  // Starts pending connects, waits up to `timeout_ms` for socket events and handles them.
  void poll(int timeout_ms);

  const SubscriberStats& stats() const { return stats_; }
  // Every subscriber is ready or failed.
  bool settled() const { return stats_.ready + stats_.failed >= options_.count; }
  // The lowest last version over the subscribers still streaming (UINT64_MAX when none):
  // every live stream has delivered at least this far.
  uint64_t min_live_version() const;

 private:
  enum class State : uint8_t { kNew, kConnecting, kSending, kHead, kBody, kStalled, kDone };
  enum class Chunk : uint8_t { kSize, kData, kCrlf };
  struct Conn {
    int fd = -1;
    State state = State::kNew;
    bool ready = false;
    bool chunked = false;
    Chunk chunk = Chunk::kSize;
    uint64_t chunk_left = 0;
    uint64_t last_version = 0;
    load::ByteBuffer out{512};
    load::ByteBuffer in{16384};
    load::ByteBuffer event{4096};  // an event split across reads or chunks
  };

  void start_connect(uint32_t index);
  void on_socket_event(uint32_t index, uint32_t events);
  void send_request(uint32_t index);
  void read_all(uint32_t index);
  // Consumes what it can of c.in; false when the connection failed or ended.
  bool process_input(uint32_t index, int64_t now_ns);
  bool parse_head(uint32_t index);
  bool feed(uint32_t index, std::string_view data, int64_t now_ns);
  size_t parse_events(uint32_t index, std::string_view data, int64_t now_ns);
  void handle_weasel_event(uint32_t index, std::string_view event, int64_t now_ns);
  void handle_etcd_message(uint32_t index, std::string_view message, int64_t now_ns);
  void set_ready(Conn& c);
  void fail(uint32_t index, std::string_view why);
  void end_stream(uint32_t index);
  void close_fd(Conn& c);

  const SubscriberSetOptions options_;
  EventListener* const listener_;
  load::TargetAddress target_;
  std::string request_;
  int epoll_fd_ = -1;
  std::vector<Conn> conns_;
  uint32_t next_connect_ = 0;
  uint32_t connecting_ = 0;
  SubscriberStats stats_;
};

}  // namespace weasel::bench
