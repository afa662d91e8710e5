#pragma once
// CatchupWorker: reads history for subscribers that are behind the hub's in-memory tail, on
// its own thread (never on an I/O thread or the hub thread, which serve live traffic). A job
// asks for the transactions after a version; the worker reads about `chunk_bytes` of log from
// the LogStore, formats them as SSE (with the subscriber's filter) and hands the result to
// `deliver` (which runs on the worker thread and must only queue it for the hub). Jobs run
// one at a time, in submission order, so subscribers catching up share the worker fairly in
// chunk-sized turns.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.hpp"
#include "log/log_store.hpp"
#include "stream/sse_format.hpp"

namespace weasel {

struct CatchupJob {
  uint64_t subscriber_id = 0;
  uint64_t after = 0;
  std::shared_ptr<const KeyFilter> filter;
};

struct CatchupResult {
  uint64_t subscriber_id = 0;
  Status status;          // log_truncated when `after` is below the log's floor
  std::string events;     // SSE events of the transactions in (after, reached]
  uint64_t reached = 0;   // every transaction <= reached is in `events` (or filtered out)
  uint64_t oldest_version = 0;  // the log's floor, for log_truncated
};

class CatchupWorker {
 public:
  using Deliver = std::function<void(CatchupResult&&)>;

  // `log` must outlive the worker.
  CatchupWorker(const LogStore& log, size_t chunk_bytes, Deliver deliver);
  ~CatchupWorker();
  CatchupWorker(const CatchupWorker&) = delete;
  CatchupWorker& operator=(const CatchupWorker&) = delete;

  void submit(CatchupJob job);
  // Drops queued jobs, waits for the running one, joins. Idempotent.
  void stop();

 private:
  void run();
  CatchupResult read(const CatchupJob& job) const;

  const LogStore& log_;
  const size_t chunk_bytes_;
  const Deliver deliver_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<CatchupJob> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace weasel
