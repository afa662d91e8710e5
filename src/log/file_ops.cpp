#include "log/file_ops.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace weasel {

int FileOps::open(const std::string& path, int flags, mode_t mode, int* fd) {
  int result;
  do {
    result = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (result < 0 && errno == EINTR);
  if (result < 0) return errno;
  *fd = result;
  return 0;
}

int FileOps::close(int fd) {
  // Linux releases the descriptor even when close reports EINTR: never retry it.
  return ::close(fd) == 0 ? 0 : errno;
}

int FileOps::read_at(int fd, char* out, size_t bytes, uint64_t offset, size_t* read_bytes) {
  size_t done = 0;
  while (done < bytes) {
    ssize_t n = ::pread(fd, out + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) break;  // end of file
    done += static_cast<size_t>(n);
  }
  *read_bytes = done;
  return 0;
}

int FileOps::write_at(int fd, std::string_view data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // no progress: never loop forever
    done += static_cast<size_t>(n);
  }
  return 0;
}

int FileOps::sync_data(int fd) {
  int result;
  do {
    result = ::fdatasync(fd);
  } while (result < 0 && errno == EINTR);
  return result == 0 ? 0 : errno;
}

int FileOps::sync(int fd) {
  int result;
  do {
    result = ::fsync(fd);
  } while (result < 0 && errno == EINTR);
  return result == 0 ? 0 : errno;
}

int FileOps::truncate(int fd, uint64_t bytes) {
  int result;
  do {
    result = ::ftruncate(fd, static_cast<off_t>(bytes));
  } while (result < 0 && errno == EINTR);
  return result == 0 ? 0 : errno;
}

int FileOps::rename(const std::string& from, const std::string& to) {
  return std::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

int FileOps::unlink(const std::string& path) {
  return ::unlink(path.c_str()) == 0 ? 0 : errno;
}

Status status_from_errno(int err, const std::string& what) {
  std::string message = what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT || err == EMFILE || err == ENFILE) {
    return Status::resource_exhausted(std::move(message));
  }
  if (err == ENOENT) return Status::not_found(std::move(message));
  return Status::io_error(std::move(message));
}

Result<std::string> read_whole_file(FileOps& ops, const std::string& path) {
  int fd;
  if (int err = ops.open(path, O_RDONLY, 0, &fd)) return status_from_errno(err, "open " + path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    (void)ops.close(fd);
    return status_from_errno(err, "fstat " + path);
  }
  std::string contents(static_cast<size_t>(st.st_size), '\0');
  size_t read_bytes = 0;
  int err = ops.read_at(fd, contents.data(), contents.size(), 0, &read_bytes);
  (void)ops.close(fd);
  if (err) return status_from_errno(err, "read " + path);
  contents.resize(read_bytes);
  return contents;
}

Status sync_directory(FileOps& ops, int dir_fd, const std::string& dir) {
  if (int err = ops.sync(dir_fd)) return status_from_errno(err, "fsync directory " + dir);
  return {};
}

FileOps& posix_file_ops() {
  static FileOps ops;
  return ops;
}

}  // namespace weasel
