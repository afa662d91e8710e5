#include "storage/table_cache.hpp"

#include "core/assert.hpp"

namespace weaseldb::storage {

TableCache::TableCache(std::shared_ptr<FileSystem> fs, size_t capacity)
    : fs_(std::move(fs)), capacity_(capacity) {
  WEASEL_ASSERT(fs_ != nullptr && capacity_ > 0);
}

Result<std::shared_ptr<const RandomAccessFile>> TableCache::acquire(uint64_t id,
                                                                   const std::string& path) {
  {
    std::lock_guard lock(mu_);
    auto found = index_.find(id);
    if (found != index_.end()) {
      lru_.splice(lru_.begin(), lru_, found->second);
      hits_.fetch_add(1, std::memory_order_relaxed);
      return found->second->file;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  // Opened unlocked: a slow open must not hold up hits on other tables.
  Result<std::unique_ptr<RandomAccessFile>> opened = fs_->new_random_access_file(path);
  if (!opened.ok()) return opened.status();
  open_files_->fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<std::atomic<uint64_t>> counter = open_files_;
  std::shared_ptr<const RandomAccessFile> file(
      opened.value().release(), [counter](const RandomAccessFile* f) {
        delete f;
        counter->fetch_sub(1, std::memory_order_relaxed);
      });
  std::lock_guard lock(mu_);
  auto found = index_.find(id);
  if (found != index_.end()) return found->second->file;  // another reader won the race
  lru_.push_front({id, file});
  index_.emplace(id, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().id);
    lru_.pop_back();  // closes the file unless a lease still holds it
  }
  return file;
}

void TableCache::forget(uint64_t id) {
  std::shared_ptr<const RandomAccessFile> closing;  // released after the lock
  std::lock_guard lock(mu_);
  auto found = index_.find(id);
  if (found == index_.end()) return;
  closing = std::move(found->second->file);
  lru_.erase(found->second);
  index_.erase(found);
}

size_t TableCache::cached() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace weaseldb::storage
