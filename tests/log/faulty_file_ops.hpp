#pragma once
// FaultyFileOps: the real POSIX FileOps with failures injected on chosen calls (ENOSPC on a
// write, EIO on an fdatasync, ...), so tests drive the store's error paths through real files.

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <functional>
#include <mutex>

#include "log/file_ops.hpp"

namespace weasel::test {

class FaultyFileOps : public FileOps {
 public:
  enum Op { kOpen, kWrite, kSyncData, kSync, kTruncate, kRename, kUnlink, kRead, kOpCount };

  // Fails the call of `op` that comes after `skip` more successful ones, with `error`; sticky
  // faults keep failing every later call too. A failing write first writes `partial_bytes`.
  void fail(Op op, int error, int skip = 0, bool sticky = true, size_t partial_bytes = 0) {
    std::lock_guard lock(mutex_);
    faults_[op] = {true, error, skip, sticky, partial_bytes};
  }
  void clear() {
    std::lock_guard lock(mutex_);
    faults_ = {};
  }
  int failures(Op op) const {
    std::lock_guard lock(mutex_);
    return failures_[op];
  }

  std::atomic<uint64_t> bytes_read{0};  // by successful read_at calls

  // Runs before every open, on the opening thread: lets a test act in the middle of a call.
  std::function<void(const std::string& path)> before_open;

  int open(const std::string& path, int flags, mode_t mode, int* fd) override {
    if (before_open) before_open(path);
    if (int err = check(kOpen)) return err;
    return FileOps::open(path, flags, mode, fd);
  }
  int read_at(int fd, char* out, size_t bytes, uint64_t offset, size_t* read_bytes) override {
    if (int err = check(kRead)) return err;
    int err = FileOps::read_at(fd, out, bytes, offset, read_bytes);
    if (err == 0) bytes_read.fetch_add(*read_bytes, std::memory_order_relaxed);
    return err;
  }
  int write_at(int fd, std::string_view data, uint64_t offset) override {
    size_t partial = 0;
    if (int err = check(kWrite, &partial)) {
      if (partial > 0) (void)FileOps::write_at(fd, data.substr(0, partial), offset);
      return err;
    }
    return FileOps::write_at(fd, data, offset);
  }
  int sync_data(int fd) override {
    if (int err = check(kSyncData)) return err;
    return FileOps::sync_data(fd);
  }
  int sync(int fd) override {
    if (int err = check(kSync)) return err;
    return FileOps::sync(fd);
  }
  int truncate(int fd, uint64_t bytes) override {
    if (int err = check(kTruncate)) return err;
    return FileOps::truncate(fd, bytes);
  }
  int rename(const std::string& from, const std::string& to) override {
    if (int err = check(kRename)) return err;
    return FileOps::rename(from, to);
  }
  int unlink(const std::string& path) override {
    if (int err = check(kUnlink)) return err;
    return FileOps::unlink(path);
  }

 private:
  struct Fault {
    bool armed = false;
    int error = 0;
    int skip = 0;
    bool sticky = false;
    size_t partial_bytes = 0;
  };

  int check(Op op, size_t* partial = nullptr) {
    std::lock_guard lock(mutex_);
    Fault& f = faults_[op];
    if (!f.armed) return 0;
    if (f.skip > 0) {
      f.skip -= 1;
      return 0;
    }
    if (!f.sticky) f.armed = false;
    if (partial != nullptr) *partial = f.partial_bytes;
    failures_[op] += 1;
    return f.error;
  }

  mutable std::mutex mutex_;
  std::array<Fault, kOpCount> faults_{};
  std::array<int, kOpCount> failures_{};
};

}  // namespace weasel::test
