#include "stream/catchup.hpp"

#include <fmt/format.h>

namespace weasel {

CatchupWorker::CatchupWorker(const LogStore& log, size_t chunk_bytes, Deliver deliver)
    : log_(log), chunk_bytes_(chunk_bytes), deliver_(std::move(deliver)) {
  thread_ = std::thread([this] { run(); });
}

CatchupWorker::~CatchupWorker() { stop(); }

void CatchupWorker::submit(CatchupJob job) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void CatchupWorker::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    jobs_.clear();
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void CatchupWorker::run() {
  for (;;) {
    CatchupJob job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    deliver_(read(job));
  }
}

CatchupResult CatchupWorker::read(const CatchupJob& job) const {
  CatchupResult result;
  result.subscriber_id = job.subscriber_id;
  result.reached = job.after;
  const KeyFilter& filter = *job.filter;
  Status decode_error;
  auto read = log_.read_after(job.after, chunk_bytes_, [&](std::string_view bytes) {
    const BatchDecodeResult decoded = BatchView::decode(bytes);
    if (decoded.status != DecodeStatus::kOk) {
      decode_error = Status::corruption(
          fmt::format("log batch after version {} does not decode: {}", result.reached,
                      decoded.reason));
      return false;
    }
    const BatchView& batch = decoded.batch;
    const std::string_view leader = batch.leader_id();
    for (const TransactionView& txn : batch.transactions()) {
      if (txn.version <= job.after) continue;
      append_transaction_event(result.events, txn, leader, filter);
    }
    result.reached = batch.header().last_version;
    return true;
  });
  if (!read.ok()) {
    result.status = read.status();
    result.oldest_version = log_.oldest_version();
  } else if (!decode_error.ok()) {
    result.status = decode_error;
  }
  return result;
}

}  // namespace weasel
