#include "storage/file.hpp"
#include "storage/mapped_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/assert.hpp"

namespace weaseldb::storage {

Status errno_status(int error, std::string_view operation, std::string_view path) {
  std::string message(operation);
  message += " ";
  message += path;
  message += ": ";
  message += std::strerror(error);
  if (error == ENOSPC || error == EDQUOT || error == EMFILE || error == ENFILE) {
    return Status::resource_exhausted(std::move(message));
  }
  return Status::io_error(std::move(message));
}

namespace {

int open_retrying(const char* path, int flags, mode_t mode = 0644) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

class PosixWritableFile final : public WritableFile {
 public:
  static constexpr size_t kBufferBytes = size_t{64} << 10;

  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
    buffer_.reserve(kBufferBytes);
  }
  ~PosixWritableFile() override {
    if (fd_ >= 0) (void)close();
  }

  Status append(std::string_view bytes) override {
    WEASEL_ASSERT(fd_ >= 0);
    size_ += bytes.size();
    if (buffer_.size() + bytes.size() <= kBufferBytes) {
      buffer_.append(bytes);
      return {};
    }
    Status s = flush();
    if (!s.ok()) return s;
    if (bytes.size() < kBufferBytes) {
      buffer_.append(bytes);
      return {};
    }
    return write_all(bytes);
  }

  Status flush() override {
    Status s = write_all(buffer_);
    buffer_.clear();
    return s;
  }

  Status sync() override {
    Status s = flush();
    if (!s.ok()) return s;
    if (::fdatasync(fd_) != 0) return errno_status(errno, "fdatasync", path_);
    return {};
  }

  Status close() override {
    if (fd_ < 0) return {};
    Status s = flush();
    if (::close(fd_) != 0 && s.ok()) s = errno_status(errno, "close", path_);
    fd_ = -1;
    return s;
  }

  uint64_t size() const override { return size_; }

 private:
  Status write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status(errno, "write", path_);
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }

  std::string path_;
  int fd_;
  std::string buffer_;
  uint64_t size_ = 0;
};

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { ::close(fd_); }

  Result<std::string_view> read(size_t n, char* scratch) override {
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(fd_, scratch + got, n - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno_status(errno, "read", path_);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return std::string_view(scratch, got);
  }

 private:
  std::string path_;
  int fd_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  Result<std::string_view> read(uint64_t offset, size_t n, char* scratch) const override {
    if (offset > size_ || n > size_ - offset) {
      return Status::corruption(path_ + ": read past the end of the file");
    }
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd_, scratch + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno_status(errno, "pread", path_);
      }
      if (r == 0) return Status::io_error(path_ + ": file shrank while being read");
      got += static_cast<size_t>(r);
    }
    return std::string_view(scratch, n);
  }

  uint64_t size() const override { return size_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

}  // namespace

Result<std::string_view> StringRandomAccessFile::read(uint64_t offset, size_t n, char*) const {
  if (offset > bytes_.size() || n > bytes_.size() - offset) {
    return Status::corruption("read past the end of the file");
  }
  return bytes_.substr(offset, n);
}

Result<std::unique_ptr<WritableFile>> open_writable_file(const std::string& path) {
  int fd = open_retrying(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  if (fd < 0) return errno_status(errno, "open", path);
  return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
}

Result<std::unique_ptr<SequentialFile>> open_sequential_file(const std::string& path) {
  int fd = open_retrying(path.c_str(), O_RDONLY);
  if (fd < 0) return errno_status(errno, "open", path);
  return std::unique_ptr<SequentialFile>(new PosixSequentialFile(path, fd));
}

Result<std::unique_ptr<RandomAccessFile>> open_random_access_file(const std::string& path) {
  int fd = open_retrying(path.c_str(), O_RDONLY);
  if (fd < 0) return errno_status(errno, "open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    Status s = errno_status(errno, "fstat", path);
    ::close(fd);
    return s;
  }
  return std::unique_ptr<RandomAccessFile>(
      new PosixRandomAccessFile(path, fd, static_cast<uint64_t>(st.st_size)));
}

Status create_dir_if_missing(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return errno_status(errno, "mkdir", path);
  }
  return {};
}

Status sync_dir(const std::string& path) {
  int fd = open_retrying(path.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return errno_status(errno, "open", path);
  Status s;
  if (::fsync(fd) != 0) s = errno_status(errno, "fsync", path);
  ::close(fd);
  return s;
}

Status rename_file(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return errno_status(errno, "rename", from);
  return {};
}

Status remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return errno_status(errno, "unlink", path);
  return {};
}

Result<bool> file_exists(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return errno_status(errno, "stat", path);
}

Result<std::vector<std::string>> list_dir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return errno_status(errno, "opendir", path);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* entry = ::readdir(dir)) {
    std::string_view name(entry->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int error = errno;
  ::closedir(dir);
  if (error != 0) return errno_status(error, "readdir", path);
  return names;
}

namespace {

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }

 private:
  int fd_;
};

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override {
    return open_writable_file(path);
  }
  Result<std::unique_ptr<WritableFile>> new_log_file(const std::string& path) override {
    auto mapped = open_mapped_writable_file(path);
    return mapped.ok() ? std::move(mapped) : open_writable_file(path);
  }
  Result<std::unique_ptr<SequentialFile>> new_sequential_file(const std::string& path) override {
    return open_sequential_file(path);
  }
  Result<std::unique_ptr<RandomAccessFile>> new_random_access_file(
      const std::string& path) override {
    return open_random_access_file(path);
  }
  Status create_dir_if_missing(const std::string& path) override {
    return storage::create_dir_if_missing(path);
  }
  Status sync_dir(const std::string& path) override { return storage::sync_dir(path); }
  Status rename_file(const std::string& from, const std::string& to) override {
    return storage::rename_file(from, to);
  }
  Status remove_file(const std::string& path) override { return storage::remove_file(path); }
  Result<bool> file_exists(const std::string& path) override {
    return storage::file_exists(path);
  }
  Result<std::vector<std::string>> list_dir(const std::string& path) override {
    return storage::list_dir(path);
  }
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override {
    return FileLock::acquire(path);
  }
};

}  // namespace

Result<std::unique_ptr<FileLock>> FileLock::acquire(const std::string& path) {
  int fd = open_retrying(path.c_str(), O_RDWR | O_CREAT);
  if (fd < 0) return errno_status(errno, "open", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) return Status::busy(path + " is locked by another process");
    return errno_status(error, "flock", path);
  }
  return std::unique_ptr<FileLock>(new PosixFileLock(fd));
}

std::shared_ptr<FileSystem> posix_file_system() {
  static const std::shared_ptr<FileSystem> fs = std::make_shared<PosixFileSystem>();
  return fs;
}

}  // namespace weaseldb::storage
