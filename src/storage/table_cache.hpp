#pragma once
// TableCache: the open file handles of a DB's tables, at most Options::max_open_files of
// them kept open (LRU), so a database with many tables stays within the process's
// descriptor limit. Table metadata (index, filter, range tombstones) stays in memory; only
// the descriptors come and go.
//
// Contract
// - acquire(id, path) returns the open file for table `id` (a Table's cache id), opening it
//   through the FileSystem on a miss. The handle is a lease: while a caller (a read, an
//   iterator) holds it, it stays open even if the cache evicts it; the descriptor closes when
//   the last lease and the cache have let go.
// - Past the capacity the least recently used entries leave the cache.
// - forget(id) drops a table's entry (the table is gone).
// - Thread-safe: one mutex; files are opened outside it.
// - hits()/misses()/open_files() feed Statistics (open_files counts leased handles too).
//
// Ownership: shares ownership of the file system and of the handles it holds.

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "storage/file.hpp"

namespace weaseldb::storage {

class TableCache {
 public:
  TableCache(std::shared_ptr<FileSystem> fs, size_t capacity);

  Result<std::shared_ptr<const RandomAccessFile>> acquire(uint64_t id, const std::string& path);
  void forget(uint64_t id);

  FileSystem& fs() const { return *fs_; }
  size_t capacity() const { return capacity_; }
  size_t cached() const;
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  uint64_t open_files() const { return open_files_->load(std::memory_order_relaxed); }

 private:
  struct Entry {
    uint64_t id;
    std::shared_ptr<const RandomAccessFile> file;
  };

  std::shared_ptr<FileSystem> fs_;
  size_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<uint64_t, std::list<Entry>::iterator> index_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  // Shared with the handles' deleters, which may run after the cache is gone.
  std::shared_ptr<std::atomic<uint64_t>> open_files_ = std::make_shared<std::atomic<uint64_t>>(0);
};

}  // namespace weaseldb::storage
