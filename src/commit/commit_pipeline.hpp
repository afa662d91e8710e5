#pragma once
// The commit pipeline of DESIGN.md section 2: sequence -> resolve -> persist -> release, one
// thread per stage, on a ThreadPipeline ring (bounded: a full ring refuses new work at once,
// so memory stays bounded under any load and the caller answers 503).
//
// - Sequence: refuses work while the log is failed, checks leader_id, rejects precondition
//   versions above the last assigned version (future_version), assigns versions.
// - Resolve: request ids (duplicates answer the original outcome; ids closed by a status
//   lookup are not_committed), then preconditions against the ConflictSet and, if they hold,
//   adds the writes; transactions are resolved one by one in version order, so conflicts
//   inside a batch resolve in order. Status lookups pass here too: that is where an id is
//   closed, so their answer is final.
// - Persist: encodes the committed transactions of everything available into log batches
//   (group commit: one append, so one fdatasync, per batch) and waits until durable.
// - Release: hands every outcome to its completion, in order. Status lookups the in-memory
//   index cannot answer are scanned from the log on a separate worker thread.
//
// Nothing here knows HTTP: an item carries an opaque completion (function + context), which
// the api layer binds to the connection it took over. Completions run on the release thread
// (or the status worker) and must not block.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "commit/commit_request.hpp"
#include "commit/conflict_set.hpp"
#include "commit/request_index.hpp"
#include "core/arena.hpp"
#include "core/thread_pipeline.hpp"
#include "log/batch_observer.hpp"
#include "log/log_format.hpp"
#include "log/log_store.hpp"
#include "metrics/metrics.hpp"

namespace weasel {

enum class CommitOutcome : uint8_t {
  kCommitted,
  kDuplicate,      // committed earlier under this request id (version is the original)
  kConflict,
  kTooOld,
  kLeaderChanged,
  kNotCommitted,   // the request id was closed by a status lookup
  kFutureVersion,  // a precondition version is above the latest version (a 400)
  kUnavailable,    // the log cannot be written (a 503)
};

struct CommitResult {
  CommitOutcome outcome = CommitOutcome::kUnavailable;
  std::string_view request_id;
  // kCommitted/kDuplicate: the commit's version. Otherwise the latest committed version.
  uint64_t version = 0;
  uint64_t oldest_version = 0;              // kTooOld; kFutureVersion: latest committed
  std::span<const uint32_t> conflicts;      // kConflict: failing precondition indices
  uint32_t future_precondition = 0;         // kFutureVersion: which precondition
  std::string_view message;                 // kUnavailable: why
};

enum class StatusOutcome : uint8_t { kCommitted, kNotCommitted, kLogTruncated, kUnavailable };

struct StatusResult {
  StatusOutcome outcome = StatusOutcome::kUnavailable;
  uint64_t version = 0;         // kCommitted
  uint64_t oldest_version = 0;  // kLogTruncated
  std::string message;          // kUnavailable
};

using CommitCompletion = void (*)(void* context, const CommitResult& result);
using StatusCompletion = void (*)(void* context, const StatusResult& result);

struct CommitPipelineOptions {
  int capacity_log2 = 14;                       // commit.pipeline_capacity (power of two)
  size_t batch_bytes_max = 1 << 20;             // log.batch_size_threshold
  int conflict_window_seconds = 5;              // commit.conflict_window_seconds
  RequestIndexLimits request_ids;               // commit.request_id_index_entries, _retention_*
  std::string leader_id;
  // Told about every batch as it is appended and once it is durable (the subscription hub);
  // optional, must outlive the pipeline.
  BatchObserver* observer = nullptr;
};

class CommitPipeline {
 public:
  // Rebuilds the conflict window and the request-id index from the log's recent history,
  // then starts the stage threads. `log` and `metrics` must outlive the pipeline.
  CommitPipeline(const CommitPipelineOptions& options, LogStore& log, MetricsRegistry& metrics);
  ~CommitPipeline();
  CommitPipeline(const CommitPipeline&) = delete;
  CommitPipeline& operator=(const CommitPipeline&) = delete;

  // From any thread. `request` (and its arena) must stay valid until the completion ran.
  // Returns false, having done nothing, when the pipeline is full.
  bool submit_commit(const CommitRequest& request, std::string_view request_id, Arena& arena,
                     CommitCompletion done, void* context);
  bool submit_status(std::string_view request_id, uint64_t min_version, StatusCompletion done,
                     void* context);

  // Stops accepting work, finishes everything submitted (completions run), joins threads.
  void stop();

  uint64_t committed_version() const { return durable_version_.load(std::memory_order_acquire); }
  bool healthy() const { return log_.healthy(); }
  const std::string& leader_id() const { return options_.leader_id; }

 private:
  // kStatusFinal: a status lookup coming back from its log scan, to be decided in resolve.
  enum class Kind : uint8_t { kCommit, kStatus, kStatusFinal, kStop };
  struct Item {
    Kind kind = Kind::kStop;
    const CommitRequest* request = nullptr;
    Arena* arena = nullptr;
    std::string_view request_id;
    uint64_t min_version = 0;
    CommitCompletion commit_done = nullptr;
    StatusCompletion status_done = nullptr;
    void* context = nullptr;
    // Filled by the stages.
    CommitOutcome outcome = CommitOutcome::kCommitted;
    uint64_t version = 0;
    int64_t timestamp_ms = 0;
    uint64_t oldest_version = 0;
    std::span<const uint32_t> conflicts;
    uint32_t future_precondition = 0;
    bool status_needs_log_scan = false;
    StatusOutcome status_outcome = StatusOutcome::kNotCommitted;
    // kStatusFinal: what the log scan found below the index horizon.
    StatusResult scanned;
    std::string status_message;  // kUnavailable detail
    std::string owned_request_id;  // kStatusFinal: the id outlives the original request view
    uint64_t scan_up_to = 0;       // kStatus needing the log: the index horizon at resolve
  };

  // Reserves a slot, lets `fill` set it, publishes it; false when full or stopping.
  template <class Fill>
  bool submit(Fill&& fill);
  void rebuild_from_log();
  void sequence_loop();
  void resolve_loop();
  void persist_loop();
  void release_loop();
  void status_worker_loop();

  void sequence(Item& item);
  void resolve(Item& item);
  void resolve_status(Item& item);
  void resolve_status_final(Item& item);
  // Closes a request id durably (so "not_committed" stays true across restarts); false if
  // the store could not record it.
  bool ban(std::string_view request_id, std::string& error);
  void load_bans();
  void advance_conflict_window(int64_t now_ms);
  // Appends the encoded batch and waits until durable; false (and health flips) on failure.
  bool persist_batch(std::string_view encoded);
  void release(Item& item);
  void release_status(Item& item);
  StatusResult scan_log_for(std::string_view request_id, uint64_t min_version,
                            uint64_t up_to_version) const;

  const CommitPipelineOptions options_;
  LogStore& log_;
  ThreadPipeline<Item> ring_;
  std::atomic<bool> accepting_{true};
  std::atomic<int> submitting_{0};  // submits between their accepting_ check and publish
  std::atomic<uint64_t> durable_version_{0};

  // Sequence stage state.
  uint64_t last_assigned_version_ = 0;
  // Resolve stage: the last version that resolved as committed (preconditions may not read
  // above it: future_version).
  uint64_t last_committed_version_ = 0;
  std::deque<std::string> durable_bans_;  // metadata keys, oldest first
  // Resolve stage state.
  ConflictSet conflicts_;
  RequestIndex requests_;
  std::deque<std::pair<int64_t, uint64_t>> window_;  // (commit time ms, version) samples
  std::vector<ConflictSet::Read> reads_scratch_;
  std::vector<ConflictSet::Result> results_scratch_;
  std::vector<ConflictSet::Write> writes_scratch_;
  // Persist stage state.
  BatchEncoder encoder_;
  std::vector<LogOperation> ops_scratch_;
  std::string persist_failure_;

  // Status lookups that need the log, answered off the release thread.
  struct StatusJob {
    std::string request_id;
    uint64_t min_version;
    uint64_t horizon;  // the index was complete above this when the lookup was resolved
    StatusCompletion done;
    void* context;
  };
  std::mutex status_mu_;
  std::condition_variable status_cv_;
  std::deque<StatusJob> status_jobs_;
  bool status_stop_ = false;
  // The status worker re-enters the ring (kStatusFinal) only while it is open; stop() closes
  // it before the sentinel. Never taken by a stage thread, so a blocking push under it
  // cannot deadlock.
  std::mutex final_push_mu_;
  bool ring_open_ = true;

  // Metrics.
  static constexpr int kCommitLabels = 9;  // the CommitOutcome values + "overloaded"
  Counter* commits_[kCommitLabels] = {};
  Histogram* batch_size_ = nullptr;
  Histogram* sync_seconds_ = nullptr;
  Gauge* committed_version_gauge_ = nullptr;

  std::vector<std::thread> threads_;
  std::thread status_thread_;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace weasel
