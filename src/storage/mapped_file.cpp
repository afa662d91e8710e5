#include "storage/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/assert.hpp"

namespace weaseldb::storage {

namespace {

class MappedWritableFile final : public WritableFile {
 public:
  MappedWritableFile(std::string path, int fd, size_t chunk_bytes)
      : path_(std::move(path)), fd_(fd), chunk_bytes_(chunk_bytes) {}
  ~MappedWritableFile() override {
    if (fd_ >= 0) (void)close();
  }

  Status append(std::string_view bytes) override {
    WEASEL_ASSERT(fd_ >= 0);
    while (!bytes.empty()) {
      if (position_ == mapped_bytes_) {
        Status s = map_next_chunk();
        if (!s.ok()) return s;
      }
      size_t n = std::min(bytes.size(), mapped_bytes_ - position_);
      std::memcpy(base_ + position_, bytes.data(), n);
      position_ += n;
      size_ += n;
      bytes.remove_prefix(n);
    }
    return {};
  }

  // Only within the mapped chunk: a record that would cross into the next one is appended.
  char* reserve(size_t n) override {
    WEASEL_ASSERT(fd_ >= 0);
    if (base_ == nullptr || mapped_bytes_ - position_ < n) return nullptr;
    return base_ + position_;
  }

  void commit_reserved(size_t n) override {
    WEASEL_ASSERT(base_ != nullptr && mapped_bytes_ - position_ >= n);
    position_ += n;
    size_ += n;
  }

  Status flush() override { return {}; }  // appended bytes are already in the page cache

  Status sync() override {
    WEASEL_ASSERT(fd_ >= 0);
    // Linux tracks pages dirtied through a shared mapping in the page cache (write faults
    // mark them), so fdatasync writes them like any other; an msync(MS_SYNC) first would be
    // a second fsync of the range, and a second cache flush of the device.
    if (::fdatasync(fd_) != 0) return errno_status(errno, "fdatasync", path_);
    return {};
  }

  Status close() override {
    if (fd_ < 0) return {};
    Status s = unmap();
    // Cut the reserved zeros: a sealed WAL ends at its last record.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0 && s.ok()) {
      s = errno_status(errno, "ftruncate", path_);
    }
    if (::close(fd_) != 0 && s.ok()) s = errno_status(errno, "close", path_);
    fd_ = -1;
    return s;
  }

  uint64_t size() const override { return size_; }

  // Maps the first chunk, so that a filesystem without fallocate or mmap fails the open.
  Status start() { return map_next_chunk(); }

 private:
  Status unmap() {
    if (base_ == nullptr) return {};
    int r = ::munmap(base_, mapped_bytes_);
    base_ = nullptr;
    if (r != 0) return errno_status(errno, "munmap", path_);
    return {};
  }

  // Maps the chunk after the current one, reserving its blocks first.
  Status map_next_chunk() {
    uint64_t offset = mapped_offset_ + mapped_bytes_;
    Status s = unmap();
    if (!s.ok()) return s;
    mapped_bytes_ = 0;
    position_ = 0;
    if (::fallocate(fd_, 0, static_cast<off_t>(offset), static_cast<off_t>(chunk_bytes_)) != 0) {
      return errno_status(errno, "fallocate", path_);
    }
    void* base = ::mmap(nullptr, chunk_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_,
                        static_cast<off_t>(offset));
    if (base == MAP_FAILED) return errno_status(errno, "mmap", path_);
    base_ = static_cast<char*>(base);
    mapped_offset_ = offset;
    mapped_bytes_ = chunk_bytes_;
    return {};
  }

  std::string path_;
  int fd_;
  size_t chunk_bytes_;
  char* base_ = nullptr;        // the mapped chunk, or null
  uint64_t mapped_offset_ = 0;  // its offset in the file
  size_t mapped_bytes_ = 0;     // its length (0 before the first chunk)
  size_t position_ = 0;         // next byte to write in it
  uint64_t size_ = 0;           // bytes appended
};

}  // namespace

Result<std::unique_ptr<WritableFile>> open_mapped_writable_file(const std::string& path,
                                                                size_t chunk_bytes) {
  long page = ::sysconf(_SC_PAGESIZE);
  if (chunk_bytes == 0 || (page > 0 && chunk_bytes % static_cast<size_t>(page) != 0)) {
    return Status::invalid_argument("mapped file chunk of " + std::to_string(chunk_bytes) +
                                    " bytes is not a multiple of the page size");
  }
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_status(errno, "open", path);
  auto file = std::make_unique<MappedWritableFile>(path, fd, chunk_bytes);
  Status s = file->start();
  if (!s.ok()) {
    (void)file->close();
    return s;
  }
  return std::unique_ptr<WritableFile>(std::move(file));
}

}  // namespace weaseldb::storage
