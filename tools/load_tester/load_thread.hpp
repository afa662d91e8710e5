#pragma once
// LoadThread: one epoll loop driving a contiguous range of the run's connections.
//
// Contract: internal to run_load(). A LoadThread owns its epoll instance, sockets, buffers,
// workload and protocol, allocates them all before the loop starts, and shares nothing
// mutable with other threads; run_load() reads its ThreadResult after joining it.
// All per-connection storage is sized up front (buffers grow only for larger messages), so
// the loop allocates nothing per request.

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "load_tester/load_runner.hpp"
#include "load_tester/pacer.hpp"

namespace weasel::load {

struct TargetAddress {
  sockaddr_storage address{};
  socklen_t length = 0;
};

struct ThreadPlan {
  uint32_t thread_index = 0;
  uint32_t first_connection = 0;
  uint32_t connection_count = 0;
  bool bounded_by_count = false;
  uint64_t request_budget = 0;  // measured requests to finish when bounded_by_count
  double rate_per_s = 0;        // this thread's share of LoadOptions::rate_per_s
};

struct ThreadResult {
  std::string setup_error;
  uint64_t requests = 0;
  uint64_t ok = 0;
  std::array<uint64_t, kStatusCodeSlots> status_counts{};
  ErrorCounts errors;
  uint64_t lost_requests = 0;
  uint64_t reconnects = 0;
  LatencyHistogram latency_ns;
  std::array<uint64_t, kOutcomeCount> outcomes{};
  int64_t end_ns = 0;
};

int64_t monotonic_now_ns();

// Resolves host:port (numeric or by name) to the first address found. Empty on success,
// otherwise why not.
std::string resolve_target(const std::string& host, uint16_t port, TargetAddress& target);

class LoadThread {
 public:
  LoadThread(const LoadOptions& options, const TargetAddress& target, const ThreadPlan& plan);
  ~LoadThread();
  LoadThread(const LoadThread&) = delete;
  LoadThread& operator=(const LoadThread&) = delete;

  // Runs the loop: load before `measure_start_ns` is not counted, and the loop ends at
  // `deadline_ns` (INT64_MAX: no time bound) or when the plan is done. Call once.
  void run(int64_t measure_start_ns, int64_t deadline_ns);
  ThreadResult& result() { return result_; }

 private:
  struct InFlight {
    int64_t start_ns = 0;
    RequestMeta meta;
    bool measured = false;
  };
  enum class State : uint8_t { kClosed, kConnecting, kOpen, kDead };
  enum class CloseCause : uint8_t {
    kIdle,
    kServerClose,
    kPeerClosedPending,
    kReset,
    kRead,
    kWrite,
    kMalformed,
    kTimeout
  };
  struct Connection {
    uint32_t id = 0;
    int fd = -1;
    State state = State::kClosed;
    bool ever_connected = false;
    uint32_t interest = 0;  // the registered epoll events; 0 when not registered
    uint32_t consecutive_failures = 0;
    uint32_t answered_in_session = 0;
    int64_t retry_at_ns = 0;       // kClosed: when to connect again
    int64_t connect_start_ns = 0;  // kConnecting: for the timeout
    ByteBuffer in;
    ByteBuffer out;
    std::vector<InFlight> ring;  // pipeline_depth slots
    uint32_t ring_head = 0;
    uint32_t ring_count = 0;
  };

  bool finished(int64_t now_ns) const;
  bool measuring(int64_t now_ns) const { return now_ns >= measure_start_ns_; }
  uint32_t slot_of(const Connection& c) const { return c.id - plan_.first_connection; }
  bool may_issue_unpaced(int64_t now_ns) const;  // ignoring the pacer
  bool may_issue(int64_t now_ns) const;
  int next_wait_ms(int64_t now_ns) const;
  void issue_due(int64_t now_ns);

  void start_connect(Connection& c, int64_t now_ns);
  void finish_connect(Connection& c, int64_t now_ns);
  void on_connected(Connection& c, int64_t now_ns);
  void connect_failed(Connection& c, int64_t now_ns);
  void handle_event(Connection& c, uint32_t events);
  void on_readable(Connection& c);
  bool register_fd(Connection& c, uint32_t events);
  void process_responses(Connection& c, bool peer_closed, int64_t now_ns);
  void complete_front(Connection& c, const Response& response, int64_t now_ns);
  void fill_and_flush(Connection& c, int64_t now_ns);
  void flush(Connection& c, int64_t now_ns);
  void update_interest(Connection& c);
  void close_connection(Connection& c, CloseCause cause, int64_t now_ns);
  void retire_or_schedule(Connection& c, int64_t retry_at_ns);
  void service_closed(int64_t now_ns);
  void check_timeouts(int64_t now_ns);
  void count_error(CloseCause cause);

  const LoadOptions& options_;
  const TargetAddress target_;
  const ThreadPlan plan_;
  std::unique_ptr<Workload> workload_;
  std::unique_ptr<Protocol> protocol_;
  int epoll_fd_ = -1;
  std::vector<Connection> connections_;
  std::vector<uint32_t> closed_;    // indices of kClosed connections awaiting a connect
  uint32_t live_connections_ = 0;   // not kDead
  uint64_t issued_measured_ = 0;    // measured requests sent and not lost
  uint64_t finished_measured_ = 0;  // measured requests answered or timed out
  int64_t measure_start_ns_ = 0;
  int64_t deadline_ns_ = 0;
  int64_t next_timeout_check_ns_ = 0;
  Pacer pacer_;                 // not paced unless plan_.rate_per_s > 0
  uint32_t pace_cursor_ = 0;    // where issue_due() looks for a connection with room first
  bool due_blocked_ = false;    // a due request found no connection with room
  ThreadResult result_;
};

}  // namespace weasel::load
