#include "log/segment.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "core/assert.hpp"

namespace weasel {
namespace {

constexpr size_t kScanChunkBytes = size_t{1} << 20;

std::string at(const SegmentFile& file, uint64_t offset) {
  return file.path + " at offset " + std::to_string(offset);
}

Status corrupt(const SegmentFile& file, uint64_t offset, const std::string& reason) {
  return Status::corruption("corrupt log segment " + at(file, offset) + ": " + reason +
                            "; refusing to open (acknowledged data may follow)");
}

// Damage at `offset` in the last segment: a torn tail if nothing after it could be data that
// was ever acknowledged, corruption otherwise.
Result<bool> is_torn_tail(FileOps& ops, const SegmentFile& file, uint64_t offset,
                          uint64_t file_bytes, std::string* reason) {
  FileWindow window(ops, file.fd, file_bytes, kScanChunkBytes);
  Result<std::string_view> tail = window.view(offset, file_bytes - offset);
  if (!tail.ok()) return tail.status();
  BatchHeaderDecodeResult header = decode_batch_header(tail.value());
  if (header.status == DecodeStatus::kOk) {
    // The header is intact, so its length is trustworthy.
    if (header.header.batch_bytes < tail.value().size()) {
      *reason = "damaged batch followed by " +
                std::to_string(tail.value().size() - header.header.batch_bytes) + " more bytes";
      return false;
    }
    return true;
  }
  if (header.status == DecodeStatus::kTruncated) return true;
  // The header itself is damaged: its length is unknown. Any valid batch further on proves
  // the damage is not a torn final write.
  char magic[4];
  coding::put_fixed<uint32_t>(magic, kBatchMagic);
  std::string_view magic_view(magic, sizeof(magic));
  for (size_t pos = tail.value().find(magic_view, 1); pos != std::string_view::npos;
       pos = tail.value().find(magic_view, pos + 1)) {
    if (BatchView::decode(tail.value().substr(pos)).status == DecodeStatus::kOk) {
      *reason = "damaged batch followed by a valid batch at offset " + std::to_string(offset + pos);
      return false;
    }
  }
  return true;
}

}  // namespace

std::string segment_file_name(uint64_t first_version) {
  char name[kSegmentNameDigits + 8];
  int n = std::snprintf(name, sizeof(name), "%020llu%s",
                        static_cast<unsigned long long>(first_version), kSegmentSuffix);
  WEASEL_ASSERT(n == static_cast<int>(kSegmentNameDigits + std::strlen(kSegmentSuffix)));
  return name;
}

std::optional<uint64_t> parse_segment_file_name(std::string_view name) {
  std::string_view suffix(kSegmentSuffix);
  if (name.size() != kSegmentNameDigits + suffix.size() || !name.ends_with(suffix)) {
    return std::nullopt;
  }
  uint64_t version = 0;
  const char* end = name.data() + kSegmentNameDigits;
  auto [ptr, ec] = std::from_chars(name.data(), end, version);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  if (segment_file_name(version) != name) return std::nullopt;  // e.g. a sign or a space
  return version;
}

int64_t batch_max_timestamp_ms(const BatchView& batch) {
  int64_t latest = INT64_MIN;
  for (const TransactionView& txn : batch.transactions()) latest = std::max(latest, txn.timestamp_ms);
  return latest;
}

void Segment::add_batch(const BatchHeader& header, int64_t batch_max_timestamp_ms) {
  max_timestamp_ms = std::max(max_timestamp_ms, batch_max_timestamp_ms);
  uint64_t offset = size_bytes;
  if (offset == 0) {
    WEASEL_ASSERT(header.first_version == first_version);
    prev_version = header.prev_version;
  } else {
    WEASEL_ASSERT(header.prev_version == last_version);
  }
  if (index.empty() || offset - index.back().offset >= kIndexIntervalBytes) {
    index.push_back({header.prev_version, offset});
  }
  last_version = header.last_version;
  size_bytes += header.batch_bytes;
}

uint64_t Segment::seek_offset(uint64_t after_version) const {
  auto it = std::upper_bound(
      index.begin(), index.end(), after_version,
      [](uint64_t v, const SegmentIndexEntry& entry) { return v < entry.prev_version; });
  return it == index.begin() ? 0 : std::prev(it)->offset;
}

Result<std::string_view> FileWindow::view(uint64_t offset, size_t bytes) {
  WEASEL_ASSERT(offset <= file_end_);
  bytes = static_cast<size_t>(std::min<uint64_t>(bytes, file_end_ - offset));
  if (offset >= buffer_offset_ && offset + bytes <= buffer_offset_ + buffer_.size()) {
    return std::string_view(buffer_).substr(offset - buffer_offset_, bytes);
  }
  size_t want =
      static_cast<size_t>(std::min<uint64_t>(std::max(bytes, chunk_bytes_), file_end_ - offset));
  buffer_.resize(want);
  buffer_offset_ = offset;
  size_t read_bytes = 0;
  int fd = fd_;
  if (int err = ops_.read_at(fd, buffer_.data(), want, offset, &read_bytes)) {
    buffer_.clear();
    return status_from_errno(err, "read at offset " + std::to_string(offset));
  }
  buffer_.resize(read_bytes);
  if (read_bytes < bytes) {
    // The file shrank under us: only truncation by someone else does that.
    return Status::io_error("short read at offset " + std::to_string(offset));
  }
  return std::string_view(buffer_).substr(0, bytes);
}

Result<SegmentScan> scan_segment(FileOps& ops, const SegmentFile& file, uint64_t file_bytes,
                                 uint64_t name_version, bool is_last) {
  SegmentScan scan;
  scan.file_bytes = file_bytes;
  scan.segment.path = file.path;
  scan.segment.first_version = name_version;
  FileWindow window(ops, file.fd, file_bytes, kScanChunkBytes);
  uint64_t offset = 0;
  while (offset < file_bytes) {
    Result<std::string_view> header_bytes = window.view(offset, kBatchHeaderBytes);
    if (!header_bytes.ok()) return Status(header_bytes.status());
    BatchHeaderDecodeResult header = decode_batch_header(header_bytes.value());
    BatchDecodeResult batch;
    if (header.status == DecodeStatus::kOk) {
      Result<std::string_view> batch_bytes = window.view(offset, header.header.batch_bytes);
      if (!batch_bytes.ok()) return Status(batch_bytes.status());
      batch = BatchView::decode(batch_bytes.value());
    } else {
      batch.status = header.status;
      batch.reason = header.reason;
    }
    if (batch.status != DecodeStatus::kOk) {
      std::string reason = batch.reason;
      if (!is_last) return corrupt(file, offset, reason);
      std::string why;
      Result<bool> torn = is_torn_tail(ops, file, offset, file_bytes, &why);
      if (!torn.ok()) return torn.status();
      if (!torn.value()) return corrupt(file, offset, reason + ", " + why);
      scan.torn = true;
      scan.torn_reason = reason;
      return scan;
    }
    const BatchHeader& h = batch.batch.header();
    if (offset == 0 && h.first_version != name_version) {
      return corrupt(file, offset,
                     "file name says version " + std::to_string(name_version) +
                         " but its first batch starts at " + std::to_string(h.first_version));
    }
    if (offset != 0 && h.prev_version != scan.segment.last_version) {
      return corrupt(file, offset,
                     "version order broken: batch follows version " +
                         std::to_string(h.prev_version) + " but the previous batch ended at " +
                         std::to_string(scan.segment.last_version));
    }
    scan.segment.add_batch(h, batch_max_timestamp_ms(batch.batch));
    offset += h.batch_bytes;
  }
  return scan;
}

}  // namespace weasel
