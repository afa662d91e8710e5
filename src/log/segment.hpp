#pragma once
// Segment files of the local log store: naming, a chunked reader, and the recovery scan.
//
// A segment is a file of whole batches (log_format.hpp) back to back, named by the
// first_version of its first batch, zero-padded to 20 digits: "00000000000000000042.log".
// Batches chain across segments (prev_version == the previous batch's last_version).
//
// Contract
// - scan_segment reads and validates every batch of one segment (both checksums, structure,
//   the file name, the version chain inside the file) and builds its sparse index. Damage in
//   a segment that is not the last one is corruption: the status names the file and offset.
//   In the last segment, damage that ends the file is a torn tail (reported, not repaired:
//   the caller truncates it) when nothing valid follows it; a damaged batch followed by more
//   bytes that the batch's own checked header says are not part of it, or by any valid
//   batch, is corruption. Never does a scan skip over data that might have been acknowledged.
// - FileWindow serves byte ranges of a file from one reused buffer (pread in chunks).
//
// Ownership: SegmentFile owns its descriptor (closed on destruction) and is shared
// (shared_ptr) between the store and readers, so a reader can finish reading a segment that
// truncation has just unlinked, or that a roll has just sealed.

#include <cstddef>
#include <cstdint>
#include <climits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.hpp"
#include "log/file_ops.hpp"
#include "log/log_format.hpp"

namespace weasel {

inline constexpr size_t kSegmentNameDigits = 20;
inline constexpr const char* kSegmentSuffix = ".log";
// Distance between sparse index entries: what read_after may read past to find its start,
// against 16 bytes of memory per entry (4 KiB per 64 MiB segment, 64 MiB per 1 TiB of log).
inline constexpr uint64_t kIndexIntervalBytes = 256 * 1024;

std::string segment_file_name(uint64_t first_version);
// The version a segment file name stands for; nullopt if `name` is not a segment name.
std::optional<uint64_t> parse_segment_file_name(std::string_view name);

// The latest timestamp_ms of the batch's transactions.
int64_t batch_max_timestamp_ms(const BatchView& batch);

struct SegmentFile {
  SegmentFile(FileOps& ops, int fd, std::string path) : ops(ops), fd(fd), path(std::move(path)) {}
  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;
  ~SegmentFile() { (void)ops.close(fd); }

  FileOps& ops;
  const int fd;
  const std::string path;
};

struct SegmentIndexEntry {
  uint64_t prev_version;  // of the batch at `offset`: every earlier batch ends at or before it
  uint64_t offset;
};

struct Segment {
  std::string path;
  // Open only while the segment is the one appended to: a long log has more segments than a
  // process may hold descriptors, so readers open sealed segments for as long as they read.
  std::shared_ptr<SegmentFile> file;
  uint64_t first_version = 0;  // == the file name
  uint64_t prev_version = 0;   // of the first batch
  uint64_t last_version = 0;
  uint64_t size_bytes = 0;  // valid, durable bytes; readers never read past them
  // The latest commit timestamp of any transaction in the segment (not necessarily the last
  // one's: clocks step back), so retention by age can drop whole segments without reading them.
  int64_t max_timestamp_ms = INT64_MIN;
  std::vector<SegmentIndexEntry> index;

  // Records a batch appended at the end of the segment; `max_timestamp_ms` is
  // batch_max_timestamp_ms() of it (computed by the caller, outside the index lock).
  void add_batch(const BatchHeader& header, int64_t batch_max_timestamp_ms);
  // Where to start reading for batches with last_version > after_version.
  uint64_t seek_offset(uint64_t after_version) const;
};

class FileWindow {
 public:
  FileWindow(FileOps& ops, int fd, uint64_t file_end, size_t chunk_bytes)
      : ops_(ops), fd_(fd), file_end_(file_end), chunk_bytes_(chunk_bytes) {}

  // Bytes [offset, offset + bytes), fewer only where file_end comes first. The view is valid
  // until the next call.
  Result<std::string_view> view(uint64_t offset, size_t bytes);

 private:
  FileOps& ops_;
  int fd_;
  uint64_t file_end_;
  size_t chunk_bytes_;
  std::string buffer_;
  uint64_t buffer_offset_ = 0;
};

struct SegmentScan {
  Segment segment;    // the valid prefix; size_bytes is where it ends
  bool torn = false;  // the file continues past size_bytes with a torn batch
  uint64_t file_bytes = 0;
  std::string torn_reason;
};

// The scanned segment has its path but no file: the caller decides whether to keep it open.
Result<SegmentScan> scan_segment(FileOps& ops, const SegmentFile& file, uint64_t file_bytes,
                                 uint64_t name_version, bool is_last);

}  // namespace weasel
