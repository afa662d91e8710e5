#include "log/local_log_store.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "core/assert.hpp"

namespace weasel {
namespace {

constexpr uint64_t kMinSegmentBytes = 4096;
constexpr uint64_t kMaxSegmentBytes = uint64_t{1} << 40;
constexpr size_t kMinReadChunkBytes = 64 * 1024;
constexpr size_t kMaxReadChunkBytes = 4 << 20;
constexpr const char* kLockFileName = "LOCK";

std::string offset_text(const std::string& path, uint64_t offset) {
  return path + " at offset " + std::to_string(offset);
}

}  // namespace

// ---- open and recovery ----

Result<std::unique_ptr<LocalLogStore>> LocalLogStore::open(const LocalLogStoreOptions& options) {
  if (options.directory.empty()) return Status::invalid_argument("log directory is empty");
  if (options.segment_bytes < kMinSegmentBytes || options.segment_bytes > kMaxSegmentBytes) {
    return Status::invalid_argument("segment_bytes must be in [" +
                                    std::to_string(kMinSegmentBytes) + ", " +
                                    std::to_string(kMaxSegmentBytes) + "]");
  }
  std::unique_ptr<LocalLogStore> store(new LocalLogStore(options));
  Status s = store->recover();
  if (!s.ok()) return s;
  return store;
}

LocalLogStore::LocalLogStore(const LocalLogStoreOptions& options)
    : directory_(options.directory),
      segment_bytes_(options.segment_bytes),
      sync_(options.sync),
      create_if_missing_(options.create_if_missing),
      ops_(options.file_ops != nullptr ? *options.file_ops : posix_file_ops()) {}

LocalLogStore::~LocalLogStore() {
  active_file_.reset();
  segments_.clear();
  if (dir_fd_ >= 0) (void)ops_.close(dir_fd_);
  if (lock_fd_ >= 0) (void)ops_.close(lock_fd_);  // releases the flock
}

Status LocalLogStore::recover() {
  Status s = open_directory();
  if (!s.ok()) return s;
  Result<LogMetadata> metadata = load_metadata_file(ops_, directory_);
  if (!metadata.ok()) return metadata.status();
  metadata_ = std::move(metadata).value();
  Result<std::vector<uint64_t>> names = list_segments();
  if (!names.ok()) return names.status();
  s = recover_segments(std::move(names).value());
  if (!s.ok()) return s;
  s = open_active_segment();
  if (!s.ok()) return s;

  uint64_t floor = metadata_.floor_version;
  oldest_version_.store(segments_.empty() ? floor : segments_.front().prev_version);
  latest_version_.store(segments_.empty() ? floor : segments_.back().last_version);
  uint64_t total = 0;
  for (const Segment& segment : segments_) total += segment.size_bytes;
  bytes_.store(total);
  if (!sync_) {
    spdlog::warn("log store {}: sync is off; committed batches are not durable (benchmarks only)",
                 directory_);
  }
  spdlog::info("log store {}: {} segments, versions ({}, {}], {} bytes", directory_,
               segments_.size(), oldest_version(), latest_version(), bytes());
  return {};
}

Status LocalLogStore::open_directory() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(directory_, ec)) {
    if (!create_if_missing_) {
      return Status::not_found("log directory " + directory_ + " does not exist");
    }
    fs::create_directories(directory_, ec);
    if (ec) return Status::io_error("create log directory " + directory_ + ": " + ec.message());
    // Make the new directory's own entry durable too.
    std::string parent = fs::path(directory_).parent_path().string();
    int parent_fd;
    if (ops_.open(parent.empty() ? "." : parent, O_RDONLY | O_DIRECTORY, 0, &parent_fd) == 0) {
      Status s = sync_directory(ops_, parent_fd, parent);
      (void)ops_.close(parent_fd);
      if (!s.ok()) return s;
    }
  }
  if (int err = ops_.open(directory_, O_RDONLY | O_DIRECTORY, 0, &dir_fd_)) {
    dir_fd_ = -1;
    return status_from_errno(err, "open log directory " + directory_);
  }
  std::string lock_path = path_of(kLockFileName);
  if (int err = ops_.open(lock_path, O_RDWR | O_CREAT, 0644, &lock_fd_)) {
    lock_fd_ = -1;
    return status_from_errno(err, "open " + lock_path);
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err == EWOULDBLOCK) {
      return Status::busy("log directory " + directory_ + " is in use by another store");
    }
    return status_from_errno(err, "flock " + lock_path);
  }
  return {};
}

Result<std::vector<uint64_t>> LocalLogStore::list_segments() const {
  namespace fs = std::filesystem;
  std::vector<uint64_t> names;
  std::error_code ec;
  fs::directory_iterator it(directory_, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (std::optional<uint64_t> version = parse_segment_file_name(name)) {
      names.push_back(*version);
    } else if (name.ends_with(kSegmentSuffix)) {
      spdlog::warn("log directory {}: ignoring {}, not a segment name", directory_, name);
    }
  }
  if (ec) return Status::io_error("list log directory " + directory_ + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

Status LocalLogStore::open_active_segment() {
  if (segments_.empty()) return {};  // the first append creates one
  Segment& last = segments_.back();
  if (!last.file) {  // the segment after it was empty and removed
    int fd;
    if (int err = ops_.open(last.path, O_RDWR, 0, &fd)) {
      return status_from_errno(err, "open " + last.path);
    }
    last.file = std::make_shared<SegmentFile>(ops_, fd, last.path);
  }
  active_file_ = last.file;
  active_bytes_ = last.size_bytes;
  return {};
}

Status LocalLogStore::recover_segments(std::vector<uint64_t> names) {
  // Segments a truncation recorded in the floor but had not unlinked yet (a crash): those
  // whose successor starts at or below floor + 1 end at or below the floor.
  uint64_t floor = metadata_.floor_version;
  size_t leftovers = 0;
  while (leftovers + 1 < names.size() && names[leftovers + 1] <= floor + 1) ++leftovers;
  for (size_t i = 0; i < leftovers; ++i) {
    Status s = remove_segment_file(path_of(segment_file_name(names[i])));
    if (!s.ok()) return s;
    spdlog::info("log store {}: removed segment {} left over by a truncation", directory_,
                 segment_file_name(names[i]));
  }
  for (size_t i = leftovers; i < names.size(); ++i) {
    Status s = recover_segment(names[i], i + 1 == names.size());
    if (!s.ok()) return s;
  }
  return drop_leftover_segments();
}

Status LocalLogStore::recover_segment(uint64_t name, bool is_last) {
  std::string path = path_of(segment_file_name(name));
  int fd;
  if (int err = ops_.open(path, O_RDWR, 0, &fd)) return status_from_errno(err, "open " + path);
  auto file = std::make_shared<SegmentFile>(ops_, fd, path);
  struct stat st;
  if (::fstat(fd, &st) != 0) return status_from_errno(errno, "fstat " + path);
  uint64_t file_bytes = static_cast<uint64_t>(st.st_size);

  Result<SegmentScan> scanned = scan_segment(ops_, *file, file_bytes, name, is_last);
  if (!scanned.ok()) return scanned.status();
  SegmentScan& scan = scanned.value();
  if (scan.torn) {
    spdlog::warn("log store {}: truncating a torn batch at the end of {} ({}): {} bytes dropped",
                 directory_, offset_text(path, scan.segment.size_bytes), scan.torn_reason,
                 file_bytes - scan.segment.size_bytes);
    if (int err = ops_.truncate(fd, scan.segment.size_bytes)) {
      return status_from_errno(err, "truncate " + path);
    }
    if (int err = ops_.sync(fd)) return status_from_errno(err, "fsync " + path);
  }
  if (scan.segment.size_bytes == 0) {
    if (!is_last) {
      return Status::corruption("corrupt log: segment " + path +
                                " is empty but is not the last segment; refusing to open");
    }
    // A segment created just before a crash, before its first batch was durable.
    spdlog::warn("log store {}: removing empty last segment {}", directory_, path);
    return remove_segment_file(path);
  }
  if (!segments_.empty() && scan.segment.prev_version != segments_.back().last_version) {
    return Status::corruption("corrupt log segment " + offset_text(path, 0) +
                              ": version order broken: it follows version " +
                              std::to_string(scan.segment.prev_version) + " but " +
                              segments_.back().path + " ends at " +
                              std::to_string(segments_.back().last_version) +
                              " (a segment is missing or out of place); refusing to open");
  }
  // Only the last segment stays open (see Segment::file).
  if (!segments_.empty()) segments_.back().file.reset();
  scan.segment.file = std::move(file);
  segments_.push_back(std::move(scan.segment));
  return {};
}

Status LocalLogStore::drop_leftover_segments() {
  uint64_t floor = metadata_.floor_version;
  while (segments_.size() > 1 && segments_.front().last_version <= floor) {
    std::string path = segments_.front().path;
    segments_.pop_front();
    Status s = remove_segment_file(path);
    if (!s.ok()) return s;
    spdlog::info("log store {}: removed segment {} left over by a truncation", directory_, path);
  }
  if (segments_.empty()) return {};
  const Segment& first = segments_.front();
  if (first.prev_version != floor) {
    return Status::corruption("corrupt log: the oldest segment " + first.path +
                              " follows version " + std::to_string(first.prev_version) +
                              " but the log was truncated up to version " + std::to_string(floor) +
                              " (a segment is missing, or " + kMetadataFileName +
                              " is not this log's); refusing to open");
  }
  return {};
}

Status LocalLogStore::remove_segment_file(const std::string& path) {
  if (int err = ops_.unlink(path); err != 0 && err != ENOENT) {
    return status_from_errno(err, "unlink " + path);
  }
  return sync_directory(ops_, dir_fd_, directory_);
}

// ---- append ----

void LocalLogStore::append(std::string_view encoded_batch, AppendCallback done) {
  if (failed_.load(std::memory_order_acquire)) {
    done(Status::unavailable("log store " + directory_ +
                             " failed earlier: " + health().to_string()));
    return;
  }
  BatchDecodeResult decoded = BatchView::decode(encoded_batch);
  if (decoded.status != DecodeStatus::kOk) {
    done(Status::invalid_argument(std::string("append: not a valid batch: ") + decoded.reason));
    return;
  }
  if (decoded.batch.bytes().size() != encoded_batch.size()) {
    done(Status::invalid_argument("append: bytes after the batch"));
    return;
  }
  const BatchHeader& header = decoded.batch.header();
  uint64_t latest = latest_version_.load(std::memory_order_relaxed);
  if (header.prev_version != latest) {
    done(Status::invalid_argument("append: batch follows version " +
                                  std::to_string(header.prev_version) + " but the log ends at " +
                                  std::to_string(latest)));
    return;
  }
  Status s = write_batch(encoded_batch, header);
  if (!s.ok()) {
    enter_failed_state(s);
    done(s);
    return;
  }
  publish(header, batch_max_timestamp_ms(decoded.batch));
  done(Status{});
}

Status LocalLogStore::write_batch(std::string_view batch, const BatchHeader& header) {
  if (!active_file_ || (active_bytes_ > 0 && active_bytes_ + batch.size() > segment_bytes_)) {
    Status s = start_segment(header.first_version);
    if (!s.ok()) return s;
  }
  const SegmentFile& file = *active_file_;
  if (int err = ops_.write_at(file.fd, batch, active_bytes_)) {
    // Best effort: keep the partial batch out of the file (recovery would drop it anyway).
    (void)ops_.truncate(file.fd, active_bytes_);
    return status_from_errno(err, "append to " + offset_text(file.path, active_bytes_));
  }
  if (sync_) {
    // After a failed fdatasync the page cache state is unknown: do not retry, do not touch.
    if (int err = ops_.sync_data(file.fd)) return status_from_errno(err, "fdatasync " + file.path);
  }
  return {};
}

Status LocalLogStore::start_segment(uint64_t first_version) {
  std::string path = path_of(segment_file_name(first_version));
  int fd;
  if (int err = ops_.open(path, O_RDWR | O_CREAT | O_EXCL, 0644, &fd)) {
    return status_from_errno(err, "create segment " + path);
  }
  active_file_ = std::make_shared<SegmentFile>(ops_, fd, path);
  active_bytes_ = 0;
  active_is_new_ = true;
  if (!sync_) return {};
  return sync_directory(ops_, dir_fd_, directory_);
}

void LocalLogStore::publish(const BatchHeader& header, int64_t max_timestamp_ms) {
  std::unique_lock lock(index_mutex_);
  if (active_is_new_) {
    if (!segments_.empty()) segments_.back().file.reset();  // sealed: readers open it
    Segment segment;
    segment.path = active_file_->path;
    segment.file = active_file_;
    segment.first_version = header.first_version;
    segments_.push_back(std::move(segment));
    active_is_new_ = false;
  }
  WEASEL_ASSERT(segments_.back().file == active_file_);
  segments_.back().add_batch(header, max_timestamp_ms);
  active_bytes_ += header.batch_bytes;
  WEASEL_ASSERT(active_bytes_ == segments_.back().size_bytes);
  bytes_.fetch_add(header.batch_bytes, std::memory_order_relaxed);
  latest_version_.store(header.last_version, std::memory_order_release);
}

void LocalLogStore::enter_failed_state(const Status& failure) {
  std::lock_guard lock(failure_mutex_);
  if (failed_.load(std::memory_order_relaxed)) return;
  failure_ = failure;
  failed_.store(true, std::memory_order_release);
  spdlog::error("log store {} failed, no more commits until restart: {}", directory_,
                failure.to_string());
}

Status LocalLogStore::health() const {
  if (!failed_.load(std::memory_order_acquire)) return {};
  std::lock_guard lock(failure_mutex_);
  return failure_;
}

// ---- reads ----

Result<uint64_t> LocalLogStore::read_after(uint64_t after_version, size_t max_bytes,
                                           const BatchCallback& fn) const {
  uint64_t cursor = after_version;
  size_t delivered_bytes = 0;
  bool stop = false;
  std::string vanished;  // a segment that could not be opened: truncated, or an error
  while (!stop) {
    std::shared_ptr<SegmentFile> file;
    std::string path;
    uint64_t offset, end_offset;
    {
      std::shared_lock lock(index_mutex_);
      uint64_t oldest = oldest_version_.load(std::memory_order_relaxed);
      if (cursor < oldest) {
        if (delivered_bytes > 0) break;  // the next call reports it
        return Status::log_truncated("history after version " + std::to_string(cursor) +
                                     " is truncated; the oldest version is " +
                                     std::to_string(oldest));
      }
      auto it = std::upper_bound(
          segments_.begin(), segments_.end(), cursor,
          [](uint64_t v, const Segment& segment) { return v < segment.last_version; });
      if (it == segments_.end()) break;
      file = it->file;
      path = it->path;
      offset = it->seek_offset(cursor);
      end_offset = it->size_bytes;
    }
    if (!file) {
      int fd;
      if (int err = ops_.open(path, O_RDONLY, 0, &fd)) {
        // Truncation may have unlinked it since the lookup: look again, once.
        if (err == ENOENT && vanished != path) {
          vanished = path;
          continue;
        }
        return status_from_errno(err, "open " + path);
      }
      file = std::make_shared<SegmentFile>(ops_, fd, path);
    }
    Status s =
        read_segment(*file, offset, end_offset, &cursor, max_bytes, &delivered_bytes, fn, &stop);
    if (!s.ok()) return s;
  }
  return cursor;
}

Status LocalLogStore::read_segment(const SegmentFile& file, uint64_t offset, uint64_t end_offset,
                                   uint64_t* cursor, size_t max_bytes, size_t* delivered_bytes,
                                   const BatchCallback& fn, bool* stop) const {
  FileWindow window(ops_, file.fd, end_offset,
                    std::clamp(max_bytes, kMinReadChunkBytes, kMaxReadChunkBytes));
  while (offset < end_offset) {
    Result<std::string_view> header_bytes = window.view(offset, kBatchHeaderBytes);
    if (!header_bytes.ok()) {
      return Status::io_error("read " + file.path + ": " + header_bytes.status().message());
    }
    BatchHeaderDecodeResult header = decode_batch_header(header_bytes.value());
    if (header.status != DecodeStatus::kOk) {
      return Status::corruption("corrupt log segment " + offset_text(file.path, offset) + ": " +
                                header.reason);
    }
    uint32_t batch_bytes = header.header.batch_bytes;
    if (header.header.last_version <= *cursor) {
      offset += batch_bytes;
      continue;
    }
    if (*delivered_bytes > 0 && *delivered_bytes + batch_bytes > max_bytes) {
      *stop = true;
      return {};
    }
    Result<std::string_view> bytes = window.view(offset, batch_bytes);
    if (!bytes.ok()) return Status::io_error("read " + file.path + ": " + bytes.status().message());
    BatchDecodeResult batch = BatchView::decode(bytes.value());
    if (batch.status != DecodeStatus::kOk) {
      return Status::corruption("corrupt log segment " + offset_text(file.path, offset) + ": " +
                                batch.reason);
    }
    *delivered_bytes += batch_bytes;
    *cursor = batch.batch.header().last_version;
    offset += batch_bytes;
    if (!fn(batch.batch.bytes())) {
      *stop = true;
      return {};
    }
  }
  return {};
}

// ---- truncation ----

Result<uint64_t> LocalLogStore::truncate_before(uint64_t version) {
  std::lock_guard truncate_lock(truncate_mutex_);
  size_t count = 0;
  uint64_t floor;
  {
    std::shared_lock lock(index_mutex_);
    // Never the last segment: appends go there.
    while (count + 1 < segments_.size() && segments_[count].last_version < version) ++count;
    if (count == 0) return uint64_t{0};
    floor = segments_[count - 1].last_version;
  }
  {
    // The floor first: a crash from here on leaves segments recovery knows to drop.
    std::lock_guard lock(metadata_mutex_);
    LogMetadata next = metadata_;
    next.floor_version = floor;
    Status s = write_metadata(next);
    if (!s.ok()) return s;
    metadata_ = std::move(next);
  }
  uint64_t deleted_bytes = 0;
  for (size_t i = 0; i < count; ++i) {
    std::string path;
    {
      std::unique_lock lock(index_mutex_);
      Segment& front = segments_.front();
      path = front.path;
      bytes_.fetch_sub(front.size_bytes, std::memory_order_relaxed);
      deleted_bytes += front.size_bytes;
      segments_.pop_front();
      oldest_version_.store(segments_.front().prev_version, std::memory_order_release);
    }
    // Readers still holding the file keep reading it: unlink only removes the name.
    Status s = remove_segment_file(path);
    if (!s.ok()) return s;
  }
  return deleted_bytes;
}

// ---- metadata ----

Status LocalLogStore::write_metadata(const LogMetadata& metadata) {
  bool uncertain = false;
  Status s = store_metadata_file(ops_, directory_, dir_fd_, metadata, &uncertain);
  if (uncertain) enter_failed_state(s);
  return s;
}

Status LocalLogStore::put_metadata(std::string_view key, std::string_view value) {
  if (key.empty() || key.size() > kMaxMetadataKeyBytes) {
    return Status::invalid_argument("metadata key must be 1.." +
                                    std::to_string(kMaxMetadataKeyBytes) + " bytes");
  }
  if (value.size() > kMaxMetadataValueBytes) {
    return Status::invalid_argument("metadata value over " +
                                    std::to_string(kMaxMetadataValueBytes) + " bytes");
  }
  std::lock_guard lock(metadata_mutex_);
  LogMetadata next = metadata_;
  next.entries.insert_or_assign(std::string(key), std::string(value));
  if (next.entries.size() > kMaxMetadataEntries) {
    return Status::invalid_argument("more than " + std::to_string(kMaxMetadataEntries) +
                                    " metadata entries");
  }
  size_t total_bytes = 0;
  for (const auto& [k, v] : next.entries) total_bytes += k.size() + v.size();
  if (total_bytes > kMaxMetadataTotalBytes) {
    return Status::invalid_argument("metadata over " + std::to_string(kMaxMetadataTotalBytes) +
                                    " bytes in total");
  }
  Status s = write_metadata(next);
  if (s.ok()) metadata_ = std::move(next);
  return s;
}

std::optional<std::string> LocalLogStore::get_metadata(std::string_view key) const {
  std::lock_guard lock(metadata_mutex_);
  auto it = metadata_.entries.find(key);
  if (it == metadata_.entries.end()) return std::nullopt;
  return it->second;
}

Status LocalLogStore::delete_metadata(std::string_view key) {
  std::lock_guard lock(metadata_mutex_);
  auto it = metadata_.entries.find(key);
  if (it == metadata_.entries.end()) {
    return Status::not_found("no metadata entry " + std::string(key));
  }
  LogMetadata next = metadata_;
  next.entries.erase(next.entries.find(key));
  Status s = write_metadata(next);
  if (s.ok()) metadata_ = std::move(next);
  return s;
}

LogStore::MetadataEntries LocalLogStore::list_metadata(std::string_view prefix) const {
  std::lock_guard lock(metadata_mutex_);
  MetadataEntries entries;
  for (auto it = metadata_.entries.lower_bound(prefix);
       it != metadata_.entries.end() && std::string_view(it->first).starts_with(prefix); ++it) {
    entries.emplace_back(it->first, it->second);
  }
  return entries;
}

uint64_t LocalLogStore::floor_for_time(int64_t since_ms) const {
  std::shared_lock lock(index_mutex_);
  // Timestamps need not rise from segment to segment (the clock may step back), so the first
  // segment holding a recent enough transaction decides, whatever follows it.
  for (const Segment& segment : segments_) {
    if (segment.max_timestamp_ms >= since_ms) return segment.prev_version;
  }
  return latest_version_.load(std::memory_order_acquire);
}

size_t LocalLogStore::segment_count() const {
  std::shared_lock lock(index_mutex_);
  return segments_.size();
}

}  // namespace weasel
