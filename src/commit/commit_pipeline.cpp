#include "commit/commit_pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/assert.hpp"

namespace weasel {
namespace {

constexpr int kSequence = 0, kResolve = 1, kPersist = 2, kRelease = 3;
constexpr int kOverloadedLabel = 8;
constexpr size_t kReadChunkBytes = 4 << 20;

const char* outcome_label(int i) {
  static constexpr const char* kLabels[] = {"committed",      "duplicate",      "conflict",
                                            "too_old",        "leader_changed", "not_committed",
                                            "future_version", "unavailable",    "overloaded"};
  return kLabels[i];
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ConflictSet::Write to_write(const LogOperation& op) {
  ConflictSet::Write w{};
  w.begin = op.key;
  if (op.type == LogOperation::Type::kRangeDelete) {
    w.end = op.end;
    w.end_is_infinite = op.end_is_infinite;
  } else {
    w.is_point = true;
  }
  return w;
}

LogOperation to_log_operation(const Operation& op) {
  LogOperation l;
  l.key = op.key;
  switch (op.type) {
    case Operation::Type::kWrite:
      l.type = LogOperation::Type::kWrite;
      l.value = op.value;
      break;
    case Operation::Type::kDelete:
      l.type = LogOperation::Type::kDelete;
      break;
    case Operation::Type::kRangeDelete:
      l.type = LogOperation::Type::kRangeDelete;
      l.end = op.end;
      l.end_is_infinite = op.end_is_infinite;
      break;
  }
  return l;
}

}  // namespace

CommitPipeline::CommitPipeline(const CommitPipelineOptions& options, LogStore& log,
                               MetricsRegistry& metrics)
    : options_(options),
      log_(log),
      ring_(options.capacity_log2, {1, 1, 1, 1}),
      conflicts_(0),
      requests_(options.request_ids, log.oldest_version()) {
  WEASEL_ASSERT(options_.conflict_window_seconds >= 1);
  for (int i = 0; i < kCommitLabels; ++i) {
    commits_[i] = &metrics.counter("weaseldb_commits_total", "Commit requests by outcome",
                                   {{"status", outcome_label(i)}});
  }
  static constexpr double kBatchBuckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
  batch_size_ = &metrics.histogram("weaseldb_commit_batch_size",
                                   "Transactions per log batch (group commit)", kBatchBuckets);
  sync_seconds_ = &metrics.histogram("weaseldb_log_sync_duration_seconds",
                                     "Time to make one log batch durable (write + fdatasync)",
                                     default_latency_buckets_seconds());
  committed_version_gauge_ =
      &metrics.gauge("weaseldb_committed_version", "Latest durably committed version");
  static constexpr const char* kStageNames[] = {"sequence", "resolve", "persist", "release"};
  for (int stage = 0; stage < 4; ++stage) {
    metrics.gauge_callback("weaseldb_pipeline_queue_depth",
                           "Commits waiting for a pipeline stage", {{"stage", kStageNames[stage]}},
                           [this, stage] { return static_cast<double>(ring_.queue_depth(stage)); });
  }

  rebuild_from_log();
  threads_.emplace_back([this] { sequence_loop(); });
  threads_.emplace_back([this] { resolve_loop(); });
  threads_.emplace_back([this] { persist_loop(); });
  threads_.emplace_back([this] { release_loop(); });
  status_thread_ = std::thread([this] { status_worker_loop(); });
}

CommitPipeline::~CommitPipeline() { stop(); }

void CommitPipeline::rebuild_from_log() {
  // Replays the retained log: every request id into the index (FIFO-bounded), and the writes
  // of the last conflict window into the conflict set, so that preconditions read before a
  // restart are still checked rather than reported too_old.
  const uint64_t latest = log_.latest_version();
  durable_version_.store(latest, std::memory_order_release);
  last_assigned_version_ = latest;
  last_committed_version_ = latest;
  load_bans();
  committed_version_gauge_->set(static_cast<double>(latest));
  const int64_t cutoff_ms = wall_ms() - int64_t{options_.conflict_window_seconds} * 1000;
  uint64_t after = log_.oldest_version();
  bool window_started = false;
  uint64_t oldest_checkable = latest;
  while (after < latest) {
    Result<uint64_t> next = log_.read_after(after, kReadChunkBytes, [&](std::string_view bytes) {
      BatchDecodeResult decoded = BatchView::decode(bytes);
      WEASEL_ASSERT(decoded.status == DecodeStatus::kOk);  // the store verified it
      for (const TransactionView& txn : decoded.batch.transactions()) {
        if (txn.version <= after) continue;
        requests_.add_committed(txn.request_id, txn.version, txn.timestamp_ms);
        if (txn.timestamp_ms < cutoff_ms) continue;
        if (!window_started) {
          window_started = true;
          oldest_checkable = txn.prev_version;
        }
        writes_scratch_.clear();
        for (const LogOperation& op : txn.operations) writes_scratch_.push_back(to_write(op));
        conflicts_.add_writes(writes_scratch_, txn.version);
        window_.emplace_back(txn.timestamp_ms, txn.version);
      }
      return true;
    });
    if (!next.ok()) {
      // The store validated everything on open; a failure now is an I/O problem. Refuse to
      // guess: precondition checks would be unsound without the window.
      spdlog::error("cannot replay the log for the conflict window: {}", next.status().message());
      std::abort();
    }
    if (next.value() <= after) break;
    after = next.value();
  }
  conflicts_.set_oldest_version(oldest_checkable);
  spdlog::info("commit pipeline: resuming after version {} ({} request ids indexed, {} commits "
               "in the {} s conflict window)",
               latest, requests_.committed_count(), window_.size(),
               options_.conflict_window_seconds);
}

template <class Fill>
bool CommitPipeline::submit(Fill&& fill) {
  // submitting_ lets stop() wait for submits that passed the accepting_ check, so nothing is
  // published after the stop sentinel.
  submitting_.fetch_add(1, std::memory_order_acq_rel);
  bool pushed = false;
  if (accepting_.load(std::memory_order_acquire)) {
    auto guard = ring_.push(1, false);
    if (guard) {
      Item& item = *guard.begin();
      item = Item{};  // slots keep what the previous item left
      fill(item);
      pushed = true;
    }
  }
  submitting_.fetch_sub(1, std::memory_order_acq_rel);
  return pushed;
}

bool CommitPipeline::submit_commit(const CommitRequest& request, std::string_view request_id,
                                   Arena& arena, CommitCompletion done, void* context) {
  const bool pushed = submit([&](Item& item) {
    item.kind = Kind::kCommit;
    item.request = &request;
    item.arena = &arena;
    item.request_id = request_id;
    item.commit_done = done;
    item.context = context;
  });
  if (!pushed) commits_[kOverloadedLabel]->inc();
  return pushed;
}

bool CommitPipeline::submit_status(std::string_view request_id, uint64_t min_version,
                                   StatusCompletion done, void* context) {
  return submit([&](Item& item) {
    item.kind = Kind::kStatus;
    item.request_id = request_id;
    item.min_version = min_version;
    item.status_done = done;
    item.context = context;
  });
}

void CommitPipeline::stop() {
  std::lock_guard lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  accepting_.store(false, std::memory_order_release);
  // A submit that passed its accepting_ check publishes before the sentinel; this wait is as
  // short as one push.
  while (submitting_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  {
    std::lock_guard lock(final_push_mu_);
    ring_open_ = false;
  }
  {
    auto guard = ring_.push(1, true);
    Item& item = *guard.begin();
    item = Item{};
    item.kind = Kind::kStop;
  }
  for (auto& t : threads_) t.join();
  {
    std::lock_guard status_lock(status_mu_);
    status_stop_ = true;
  }
  status_cv_.notify_all();
  status_thread_.join();
}

// ---- sequence -------------------------------------------------------------------------

void CommitPipeline::sequence_loop() {
  for (;;) {
    auto batch = ring_.acquire(kSequence, 0);
    bool stop = false;
    for (Item& item : batch) {
      if (item.kind == Kind::kStop) stop = true;
      if (item.kind == Kind::kCommit) sequence(item);
    }
    if (stop) return;
  }
}

void CommitPipeline::sequence(Item& item) {
  const CommitRequest& req = *item.request;
  if (!log_.healthy()) {
    item.outcome = CommitOutcome::kUnavailable;
    return;
  }
  if (req.has_leader_id && req.leader_id != options_.leader_id) {
    item.outcome = CommitOutcome::kLeaderChanged;
    return;
  }
  WEASEL_ASSERT(last_assigned_version_ + 1 < kMaxJsonVersionExclusive);
  item.version = ++last_assigned_version_;
  item.outcome = CommitOutcome::kCommitted;  // tentative: resolve decides
}

// ---- resolve --------------------------------------------------------------------------

void CommitPipeline::resolve_loop() {
  for (;;) {
    auto batch = ring_.acquire(kResolve, 0);
    bool stop = false;
    const int64_t now = wall_ms();
    for (Item& item : batch) {
      switch (item.kind) {
        case Kind::kStop:
          stop = true;
          break;
        case Kind::kCommit:
          item.timestamp_ms = now;
          if (item.outcome == CommitOutcome::kCommitted) resolve(item);
          break;
        case Kind::kStatus:
          resolve_status(item);
          break;
        case Kind::kStatusFinal:
          resolve_status_final(item);
          break;
      }
    }
    advance_conflict_window(now);
    if (stop) return;
  }
}

void CommitPipeline::resolve(Item& item) {
  const CommitRequest& req = *item.request;
  // A precondition may read any version that committed, never one that did not (a version
  // skipped by a failed transaction, or one not yet assigned).
  for (size_t i = 0; i < req.preconditions.size(); ++i) {
    if (req.preconditions[i].version > last_committed_version_) {
      item.outcome = CommitOutcome::kFutureVersion;
      item.future_precondition = static_cast<uint32_t>(i);
      item.oldest_version = last_committed_version_;  // reported in the message
      return;
    }
  }
  if (requests_.banned(item.request_id)) {
    item.outcome = CommitOutcome::kNotCommitted;
    return;
  }
  if (auto original = requests_.committed_version(item.request_id)) {
    item.outcome = CommitOutcome::kDuplicate;
    item.version = *original;
    return;
  }
  reads_scratch_.clear();
  for (const Precondition& p : req.preconditions) {
    ConflictSet::Read r{};
    r.begin = p.key;
    r.read_version = p.version;
    if (p.type == Precondition::Type::kPointRead) {
      r.is_point = true;
    } else {
      r.end = p.end;
      r.end_is_infinite = p.end_is_infinite;
    }
    reads_scratch_.push_back(r);
  }
  results_scratch_.resize(reads_scratch_.size());
  conflicts_.check(reads_scratch_, results_scratch_);
  size_t conflict_count = 0;
  bool too_old = false;
  for (ConflictSet::Result r : results_scratch_) {
    too_old |= r == ConflictSet::Result::kTooOld;
    conflict_count += r == ConflictSet::Result::kConflict;
  }
  if (too_old) {
    item.outcome = CommitOutcome::kTooOld;
    item.oldest_version = conflicts_.oldest_version();
    return;
  }
  if (conflict_count > 0) {
    uint32_t* indices = item.arena->allocate_array<uint32_t>(conflict_count);
    size_t n = 0;
    for (size_t i = 0; i < results_scratch_.size(); ++i) {
      if (results_scratch_[i] == ConflictSet::Result::kConflict) {
        indices[n++] = static_cast<uint32_t>(i);
      }
    }
    item.conflicts = {indices, n};
    item.outcome = CommitOutcome::kConflict;
    return;
  }
  writes_scratch_.clear();
  for (const Operation& op : req.operations) writes_scratch_.push_back(to_write(to_log_operation(op)));
  conflicts_.add_writes(writes_scratch_, item.version);
  requests_.add_committed(item.request_id, item.version, item.timestamp_ms);
  last_committed_version_ = item.version;
  if (window_.empty() || window_.back().first != item.timestamp_ms) {
    window_.emplace_back(item.timestamp_ms, item.version);
  } else {
    window_.back().second = item.version;
  }
}

void CommitPipeline::resolve_status(Item& item) {
  if (auto version = requests_.committed_version(item.request_id)) {
    item.status_outcome = StatusOutcome::kCommitted;
    item.version = *version;
    return;
  }
  if (item.min_version < requests_.horizon()) {
    // The index is complete only above its horizon: the log must tell first. The id is not
    // closed yet; the lookup comes back through resolve (kStatusFinal) once the log answered.
    item.status_needs_log_scan = true;
    item.scan_up_to = requests_.horizon();
    return;
  }
  if (std::string error; !ban(item.request_id, error)) {
    item.status_outcome = StatusOutcome::kUnavailable;
    item.status_message = error;
    return;
  }
  item.status_outcome = StatusOutcome::kNotCommitted;
}

void CommitPipeline::resolve_status_final(Item& item) {
  // Decided here, in order with every commit: a commit with this id that resolved after the
  // scan is in the index; one the scan found goes back into the index, so that a retry
  // answers duplicate instead of committing twice.
  if (item.scanned.outcome == StatusOutcome::kCommitted) {
    requests_.add_committed(item.request_id, item.scanned.version, wall_ms());
    item.status_outcome = StatusOutcome::kCommitted;
    item.version = item.scanned.version;
    return;
  }
  if (auto version = requests_.committed_version(item.request_id)) {
    item.status_outcome = StatusOutcome::kCommitted;
    item.version = *version;
    return;
  }
  if (item.scanned.outcome == StatusOutcome::kUnavailable) {
    item.status_outcome = StatusOutcome::kUnavailable;
    item.status_message = item.scanned.message;
    return;
  }
  if (std::string error; !ban(item.request_id, error)) {
    item.status_outcome = StatusOutcome::kUnavailable;
    item.status_message = error;
    return;
  }
  item.status_outcome = item.scanned.outcome;  // not_committed or log_truncated
  item.oldest_version = item.scanned.oldest_version;
}

namespace {
constexpr std::string_view kBanPrefix = "closed_request_id/";
// Durable closed ids kept (the oldest are forgotten first). Each closing is one durable
// metadata write, which is fine for status lookups: they are rare (outcomes clients missed).
constexpr size_t kDurableBansMax = 10'000;
}  // namespace

bool CommitPipeline::ban(std::string_view request_id, std::string& error) {
  if (requests_.banned(request_id)) return true;
  std::string key(kBanPrefix);
  key += request_id;
  const Status put = log_.put_metadata(key, std::to_string(wall_ms()));
  if (!put.ok()) {
    error = "cannot record the closed request id: " + put.message();
    return false;
  }
  requests_.ban(request_id);
  durable_bans_.push_back(std::move(key));
  if (durable_bans_.size() > kDurableBansMax) {
    [[maybe_unused]] Status dropped = log_.delete_metadata(durable_bans_.front());
    durable_bans_.pop_front();
  }
  return true;
}

void CommitPipeline::load_bans() {
  auto entries = log_.list_metadata(kBanPrefix);
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return std::stoll(a.second) < std::stoll(b.second);
  });
  for (auto& [key, value] : entries) {
    requests_.ban(std::string_view(key).substr(kBanPrefix.size()));
    durable_bans_.push_back(std::move(key));
  }
}

void CommitPipeline::advance_conflict_window(int64_t now_ms) {
  const int64_t cutoff = now_ms - int64_t{options_.conflict_window_seconds} * 1000;
  uint64_t forget_below = 0;
  while (!window_.empty() && window_.front().first < cutoff) {
    forget_below = window_.front().second;
    window_.pop_front();
  }
  if (forget_below > conflicts_.oldest_version()) conflicts_.set_oldest_version(forget_below);
}

// ---- persist --------------------------------------------------------------------------

bool CommitPipeline::persist_batch(std::string_view encoded) {
  const auto started = std::chrono::steady_clock::now();
  std::promise<Status> done;
  std::future<Status> result = done.get_future();
  if (options_.observer != nullptr) options_.observer->on_batch_appended(encoded);
  log_.append(encoded, [&done](const Status& s) { done.set_value(s); });
  const Status status = result.get();
  sync_seconds_->observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (!status.ok()) {
    spdlog::error("log append failed; commits are refused until restart: {}", status.message());
    if (persist_failure_.empty()) persist_failure_ = status.message();  // written once
    return false;
  }
  batch_size_->observe(encoder_.transaction_count());
  durable_version_.store(encoder_.last_version(), std::memory_order_release);
  committed_version_gauge_->set(static_cast<double>(encoder_.last_version()));
  if (options_.observer != nullptr) options_.observer->on_batch_durable(encoder_.last_version());
  return true;
}

void CommitPipeline::persist_loop() {
  for (;;) {
    auto batch = ring_.acquire(kPersist, 0);
    bool stop = false;
    bool open = false;
    bool failed = false;
    for (Item& item : batch) {
      if (item.kind == Kind::kStop) stop = true;
      if (item.kind != Kind::kCommit || item.outcome != CommitOutcome::kCommitted || failed) {
        continue;
      }
      ops_scratch_.clear();
      for (const Operation& op : item.request->operations) {
        ops_scratch_.push_back(to_log_operation(op));
      }
      LogTransaction txn;
      txn.version = item.version;
      txn.timestamp_ms = item.timestamp_ms;
      txn.request_id = item.request_id;
      txn.operations = ops_scratch_;
      if (open && encoder_.transaction_count() > 0 &&
          encoder_.encoded_bytes() + BatchEncoder::max_transaction_bytes(txn) >
              options_.batch_bytes_max) {
        failed = !persist_batch(encoder_.finish(options_.leader_id));
        open = false;
        if (failed) continue;
      }
      if (!open) {
        encoder_.begin(durable_version_.load(std::memory_order_relaxed));
        open = true;
      }
      encoder_.add(txn);
    }
    if (open && !failed) failed = !persist_batch(encoder_.finish(options_.leader_id));
    if (failed) {
      // Nothing at or above the failed batch is durable: those commits (and duplicates of
      // them) must not be acknowledged.
      const uint64_t durable = durable_version_.load(std::memory_order_relaxed);
      for (Item& item : batch) {
        if (item.kind != Kind::kCommit) continue;
        if ((item.outcome == CommitOutcome::kCommitted ||
             item.outcome == CommitOutcome::kDuplicate) &&
            item.version > durable) {
          item.outcome = CommitOutcome::kUnavailable;
        }
      }
    }
    if (stop) return;
  }
}

// ---- release --------------------------------------------------------------------------

void CommitPipeline::release_loop() {
  for (;;) {
    auto batch = ring_.acquire(kRelease, 0);
    bool stop = false;
    for (Item& item : batch) {
      switch (item.kind) {
        case Kind::kStop:
          stop = true;
          break;
        case Kind::kCommit:
          release(item);
          break;
        case Kind::kStatus:
          if (item.status_needs_log_scan) {
            {
              std::lock_guard lock(status_mu_);
              status_jobs_.push_back({std::string(item.request_id), item.min_version,
                                      item.scan_up_to, item.status_done, item.context});
            }
            status_cv_.notify_one();
            break;
          }
          release_status(item);
          break;
        case Kind::kStatusFinal:
          release_status(item);
          break;
      }
    }
    if (stop) return;
  }
}

void CommitPipeline::release_status(Item& item) {
  StatusResult result;
  result.outcome = item.status_outcome;
  result.version = item.version;
  result.oldest_version = item.oldest_version;
  result.message = item.status_message;
  if (result.outcome == StatusOutcome::kCommitted &&
      item.version > durable_version_.load(std::memory_order_acquire)) {
    result.outcome = StatusOutcome::kUnavailable;  // resolved, but its batch failed
    result.message = "the log cannot be written";
  }
  item.status_done(item.context, result);
}

void CommitPipeline::release(Item& item) {
  CommitResult result;
  result.outcome = item.outcome;
  result.request_id = item.request_id;
  const bool committed =
      item.outcome == CommitOutcome::kCommitted || item.outcome == CommitOutcome::kDuplicate;
  result.version = committed ? item.version : durable_version_.load(std::memory_order_acquire);
  result.oldest_version = item.oldest_version;
  result.conflicts = item.conflicts;
  result.future_precondition = item.future_precondition;
  if (item.outcome == CommitOutcome::kUnavailable) {
    const Status health = log_.health();
    result.message = health.ok() ? std::string_view("the log is not writable")
                                 : std::string_view(persist_failure_);
  }
  commits_[static_cast<int>(item.outcome)]->inc();
  item.commit_done(item.context, result);
}

// ---- status lookups from the log ----------------------------------------------------------

void CommitPipeline::status_worker_loop() {
  for (;;) {
    StatusJob job;
    {
      std::unique_lock lock(status_mu_);
      status_cv_.wait(lock, [this] { return status_stop_ || !status_jobs_.empty(); });
      if (status_jobs_.empty()) return;
      job = std::move(status_jobs_.front());
      status_jobs_.pop_front();
    }
    const StatusResult scanned = scan_log_for(job.request_id, job.min_version, job.horizon);
    // Back through the ring: the final answer (and closing the id) is decided in resolve.
    std::lock_guard lock(final_push_mu_);
    if (!ring_open_) {
      StatusResult stopping;
      stopping.outcome = StatusOutcome::kUnavailable;
      stopping.message = "the server is shutting down";
      job.done(job.context, stopping);
      continue;
    }
    auto guard = ring_.push(1, true);
    Item& item = *guard.begin();
    item = Item{};
    item.kind = Kind::kStatusFinal;
    item.owned_request_id = std::move(job.request_id);
    item.request_id = item.owned_request_id;
    item.scanned = scanned;
    item.status_done = job.done;
    item.context = job.context;
  }
}

StatusResult CommitPipeline::scan_log_for(std::string_view request_id, uint64_t min_version,
                                          uint64_t up_to_version) const {
  StatusResult result;
  const uint64_t oldest = log_.oldest_version();
  const uint64_t latest = std::min(log_.latest_version(), up_to_version);
  uint64_t after = std::max(min_version, oldest);
  bool found = false;
  while (!found && after < latest) {
    Result<uint64_t> next = log_.read_after(after, kReadChunkBytes, [&](std::string_view bytes) {
      BatchDecodeResult decoded = BatchView::decode(bytes);
      WEASEL_ASSERT(decoded.status == DecodeStatus::kOk);
      for (const TransactionView& txn : decoded.batch.transactions()) {
        if (txn.version > after && txn.request_id == request_id) {
          found = true;
          result.version = txn.version;
          return false;
        }
      }
      return true;
    });
    if (!next.ok()) {
      if (next.status().code() == StatusCode::kLogTruncated) break;
      result.outcome = StatusOutcome::kUnavailable;
      result.message = next.status().message();
      return result;
    }
    if (next.value() <= after) break;
    after = next.value();
  }
  if (found) {
    result.outcome = StatusOutcome::kCommitted;
  } else if (min_version < log_.oldest_version()) {
    // Part of the history that would tell is gone.
    result.outcome = StatusOutcome::kLogTruncated;
    result.oldest_version = log_.oldest_version();
  } else {
    result.outcome = StatusOutcome::kNotCommitted;
  }
  return result;
}

}  // namespace weasel
