#pragma once
// LocalLogStore: the LogStore on local disk (the default backend).
//
// Directory layout: segment files "<first_version, 20 digits>.log" (segment.hpp), METADATA
// (metadata_file.hpp: the metadata map and the truncation floor), LOCK (flock: one store per
// directory, also within one process).
//
// Contract (beyond LogStore's)
// - append() completes synchronously: `done` has run when append() returns, on the calling
//   thread. One write and, with sync, one fdatasync per batch (group commit happens upstream,
//   in the persist stage). A batch that would push the current segment past segment_bytes
//   starts a new segment (a batch larger than segment_bytes gets a segment of its own); a new
//   segment file is made durable by an fsync of the directory before its first batch counts.
// - sync = false skips every fdatasync: nothing is durable before the OS writes it back. For
//   benchmarks only; open() logs a warning.
// - open() recovers: it validates every batch of every segment (checksums, structure, the
//   version chain across files). A torn last batch at the very end of the last segment (an
//   incomplete write, or a bad checksum with nothing valid after it) is truncated away with
//   a warning, and a last segment left empty is removed. Any other damage (a bad batch
//   followed by valid data, a bad earlier segment, broken version order, a missing segment)
//   refuses to open with a corruption status naming the file and offset: acknowledged data
//   is never dropped silently.
// - floor_for_time() has segment granularity: each segment keeps the latest commit timestamp
//   of its transactions (learnt on append and by the recovery scan), so it reads no file.
// - truncate_before() records the new floor in METADATA first, then unlinks segments oldest
//   first with a directory fsync after each, so a crash leaves a contiguous suffix of
//   segments and never lowers the floor.
// - An I/O error while appending (ENOSPC, EIO) puts the store in the failed state (LogStore).
//   A failed metadata write leaves the store healthy unless the outcome on disk is unknown
//   (the directory fsync after the rename failed), which also fails the store.
//
// Thread-safety: append() from one thread at a time; everything else from any thread,
// concurrently. Readers copy what they need from the in-memory index under a shared lock and
// read the files without it; appends publish a batch only once it is durable.
//
// Ownership: the store owns its descriptors and the in-memory index; FileOps (options) is
// borrowed and must outlive the store.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "log/file_ops.hpp"
#include "log/log_store.hpp"
#include "log/metadata_file.hpp"
#include "log/segment.hpp"

namespace weasel {

struct LocalLogStoreOptions {
  std::string directory;
  uint64_t segment_bytes = uint64_t{64} << 20;
  bool sync = true;
  bool create_if_missing = true;
  FileOps* file_ops = nullptr;  // nullptr: posix_file_ops()
};

class LocalLogStore final : public LogStore {
 public:
  static Result<std::unique_ptr<LocalLogStore>> open(const LocalLogStoreOptions& options);

  LocalLogStore(const LocalLogStore&) = delete;
  LocalLogStore& operator=(const LocalLogStore&) = delete;
  ~LocalLogStore() override;

  void append(std::string_view encoded_batch, AppendCallback done) override;
  Result<uint64_t> read_after(uint64_t after_version, size_t max_bytes,
                              const BatchCallback& fn) const override;
  Result<uint64_t> truncate_before(uint64_t version) override;

  uint64_t oldest_version() const override {
    return oldest_version_.load(std::memory_order_acquire);
  }
  uint64_t latest_version() const override {
    return latest_version_.load(std::memory_order_acquire);
  }
  uint64_t bytes() const override { return bytes_.load(std::memory_order_relaxed); }
  uint64_t floor_for_time(int64_t since_ms) const override;
  Status health() const override;

  Status put_metadata(std::string_view key, std::string_view value) override;
  std::optional<std::string> get_metadata(std::string_view key) const override;
  Status delete_metadata(std::string_view key) override;
  MetadataEntries list_metadata(std::string_view prefix) const override;

  size_t segment_count() const;

 private:
  explicit LocalLogStore(const LocalLogStoreOptions& options);

  Status recover();
  Status open_directory();
  Result<std::vector<uint64_t>> list_segments() const;
  Status open_active_segment();
  // `names` in version order.
  Status recover_segments(std::vector<uint64_t> names);
  Status recover_segment(uint64_t name, bool is_last);
  Status drop_leftover_segments();
  Status remove_segment_file(const std::string& path);
  Status write_batch(std::string_view batch, const BatchHeader& header);
  Status start_segment(uint64_t first_version);
  void publish(const BatchHeader& header, int64_t max_timestamp_ms);
  void enter_failed_state(const Status& failure);
  Status write_metadata(const LogMetadata& metadata);
  std::string path_of(const std::string& name) const { return directory_ + "/" + name; }

  // Delivers the batches of file bytes [offset, end_offset) that end after *cursor to fn,
  // advancing *cursor; see read_after.
  Status read_segment(const SegmentFile& file, uint64_t offset, uint64_t end_offset,
                      uint64_t* cursor, size_t max_bytes, size_t* delivered_bytes,
                      const BatchCallback& fn, bool* stop) const;

  const std::string directory_;
  const uint64_t segment_bytes_;
  const bool sync_;
  const bool create_if_missing_;
  FileOps& ops_;
  int dir_fd_ = -1;
  int lock_fd_ = -1;

  // The index: guarded by index_mutex_. Segments are in version order and chain.
  mutable std::shared_mutex index_mutex_;
  std::deque<Segment> segments_;  // a deque: truncation pops from the front
  std::atomic<uint64_t> oldest_version_{0};
  std::atomic<uint64_t> latest_version_{0};
  std::atomic<uint64_t> bytes_{0};

  // The appender's own view (append thread only): where the next batch goes.
  std::shared_ptr<SegmentFile> active_file_;
  uint64_t active_bytes_ = 0;
  bool active_is_new_ = false;  // active_file_ holds no published batch yet

  std::mutex truncate_mutex_;  // one truncation at a time

  mutable std::mutex metadata_mutex_;
  LogMetadata metadata_;

  mutable std::mutex failure_mutex_;
  Status failure_;
  std::atomic<bool> failed_{false};
};

}  // namespace weasel
