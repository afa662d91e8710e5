#pragma once
// Files as the engine uses them: append-only writers (WAL, SSTables, manifest), sequential
// readers (WAL replay) and positional readers (SSTables). POSIX implementations for the
// database, in-memory ones for tools and fuzzing (the same reader code runs over either).
//
// FileSystem is the one door a DB uses for its files and directories (Options::file_system;
// null means posix_file_system()), so that tests can swap in a layer that injects errors or
// simulates a machine crash. The free functions below are the POSIX implementation, kept for
// code that works on plain paths (tools, tests).
//
// Contract
// - Errors map errno to the engine's codes: ENOSPC/EDQUOT/EMFILE/ENFILE -> resource_exhausted,
//   anything else -> io_error; the message names the path and the operation.
// - WritableFile::append() buffers; flush() hands the bytes to the OS (survives a process
//   crash); sync() also makes them durable (fdatasync). close() flushes but does not sync.
// - SequentialFile::read() returns fewer bytes than asked only at end of file (an empty view
//   at end of file).
// - RandomAccessFile::read() returns exactly n bytes, or corruption when [offset, offset + n)
//   is past the end of the file (a handle read from a damaged file), or io_error.
// - All readers are safe to use from several threads except SequentialFile.
//
// Ownership: views returned by read() point into the caller's scratch buffer or into the
// in-memory file; they are valid until the scratch is reused or the file is destroyed.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "weaseldb/status.hpp"

namespace weaseldb::storage {

Status errno_status(int error, std::string_view operation, std::string_view path);

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status append(std::string_view bytes) = 0;
  virtual Status flush() = 0;
  virtual Status sync() = 0;
  virtual Status close() = 0;
  // Bytes appended so far.
  virtual uint64_t size() const = 0;
  // Room for `n` more bytes to be written in place (the WAL builds a record straight in a
  // mapped file this way, without a copy in a buffer first), or null when this file cannot
  // offer it now: the caller then uses append(). The bytes are appended by
  // commit_reserved(n), which must follow before any other call on the file.
  virtual char* reserve(size_t n) {
    (void)n;
    return nullptr;
  }
  virtual void commit_reserved(size_t n) { (void)n; }
};

class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  virtual Result<std::string_view> read(size_t n, char* scratch) = 0;
};

class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  virtual Result<std::string_view> read(uint64_t offset, size_t n, char* scratch) const = 0;
  virtual uint64_t size() const = 0;
};

// Creates (or truncates) `path` for appending.
Result<std::unique_ptr<WritableFile>> open_writable_file(const std::string& path);
Result<std::unique_ptr<SequentialFile>> open_sequential_file(const std::string& path);
Result<std::unique_ptr<RandomAccessFile>> open_random_access_file(const std::string& path);

// In memory: a writer appending to a string it owns, and readers over borrowed bytes.
class StringWritableFile final : public WritableFile {
 public:
  Status append(std::string_view bytes) override {
    contents_.append(bytes);
    return {};
  }
  Status flush() override { return {}; }
  Status sync() override { return {}; }
  Status close() override { return {}; }
  uint64_t size() const override { return contents_.size(); }
  const std::string& contents() const { return contents_; }

 private:
  std::string contents_;
};

class StringSequentialFile final : public SequentialFile {
 public:
  explicit StringSequentialFile(std::string_view bytes) : bytes_(bytes) {}
  Result<std::string_view> read(size_t n, char*) override {
    std::string_view out = bytes_.substr(0, n);
    bytes_.remove_prefix(out.size());
    return out;
  }

 private:
  std::string_view bytes_;
};

class StringRandomAccessFile final : public RandomAccessFile {
 public:
  explicit StringRandomAccessFile(std::string_view bytes) : bytes_(bytes) {}
  Result<std::string_view> read(uint64_t offset, size_t n, char*) const override;
  uint64_t size() const override { return bytes_.size(); }

 private:
  std::string_view bytes_;
};

// Directory helpers for the DB.
Status create_dir_if_missing(const std::string& path);
Status sync_dir(const std::string& path);
Status rename_file(const std::string& from, const std::string& to);
Status remove_file(const std::string& path);
Result<bool> file_exists(const std::string& path);
// Names (not paths) of the entries of a directory, without "." and "..".
Result<std::vector<std::string>> list_dir(const std::string& path);

// An exclusive lock on a database directory, released on destruction.
class FileLock {
 public:
  FileLock() = default;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  virtual ~FileLock() = default;

  // An advisory lock (flock) on `path`, created if missing; busy when held elsewhere.
  static Result<std::unique_ptr<FileLock>> acquire(const std::string& path);
};

// What a DB asks of the file system. Implementations are thread-safe. Directory operations
// (creating, renaming, removing entries) are durable only after sync_dir() of the directory.
class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) = 0;
  // A file for the WAL: appended in small records and synced by the write path. The OS file
  // system maps it (an append is a memcpy; see mapped_file.hpp); by default it is an ordinary
  // writable file, so a test file system sees WAL writes like any other.
  virtual Result<std::unique_ptr<WritableFile>> new_log_file(const std::string& path) {
    return new_writable_file(path);
  }
  virtual Result<std::unique_ptr<SequentialFile>> new_sequential_file(
      const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> new_random_access_file(
      const std::string& path) = 0;
  virtual Status create_dir_if_missing(const std::string& path) = 0;
  virtual Status sync_dir(const std::string& path) = 0;
  virtual Status rename_file(const std::string& from, const std::string& to) = 0;
  virtual Status remove_file(const std::string& path) = 0;
  virtual Result<bool> file_exists(const std::string& path) = 0;
  virtual Result<std::vector<std::string>> list_dir(const std::string& path) = 0;
  virtual Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) = 0;
};

// The operating system's file system (the free functions above); one shared instance.
std::shared_ptr<FileSystem> posix_file_system();

}  // namespace weaseldb::storage
