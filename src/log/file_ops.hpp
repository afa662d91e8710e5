#pragma once
// FileOps: the file system calls the local log store makes, behind a small interface so that
// tests can inject failures (ENOSPC, EIO, short writes) into real I/O instead of mocking the
// store. The base class is the real thing (POSIX); a test overrides the calls it wants to
// fail and forwards the rest to FileOps.
//
// Contract
// - Every call returns 0 on success or an errno value; errno itself is not part of the
//   interface. EINTR is retried inside.
// - read_at fills `out` with up to `bytes` bytes from `offset`; fewer only at end of file
//   (*read_bytes says how many).
// - write_at writes all of `data` at `offset` or fails; after a failure an unknown prefix may
//   have been written.
// - Directory listing, mkdir, fstat and locking are not here: they have nothing to fail into.
//
// Thread-safety: the POSIX implementation is stateless and safe from any thread; overrides
// used with a store must be too (the store reads from several threads).

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.hpp"

namespace weasel {

class FileOps {
 public:
  virtual ~FileOps() = default;

  virtual int open(const std::string& path, int flags, mode_t mode, int* fd);
  virtual int close(int fd);
  virtual int read_at(int fd, char* out, size_t bytes, uint64_t offset, size_t* read_bytes);
  virtual int write_at(int fd, std::string_view data, uint64_t offset);
  virtual int sync_data(int fd);  // fdatasync
  virtual int sync(int fd);       // fsync: data and metadata (size, directory entries)
  virtual int truncate(int fd, uint64_t bytes);
  virtual int rename(const std::string& from, const std::string& to);
  virtual int unlink(const std::string& path);
};

// The process-wide POSIX FileOps.
FileOps& posix_file_ops();

// A failed call as a Status: ENOSPC, EDQUOT, EMFILE and ENFILE are resource_exhausted,
// ENOENT is not_found, the rest io_error. The message is "<what>: <strerror>", so `what`
// names the call and the file.
Status status_from_errno(int err, const std::string& what);

// Reads a whole (small) file; not_found if it does not exist.
Result<std::string> read_whole_file(FileOps& ops, const std::string& path);

// fsync of a directory, which makes the entries created, renamed or removed in it durable.
Status sync_directory(FileOps& ops, int dir_fd, const std::string& dir);

}  // namespace weasel
