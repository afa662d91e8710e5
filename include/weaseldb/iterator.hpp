#pragma once
// Iterator: the one way to walk a database's keys in order (memcmp order, shorter prefix
// first), as of the sequence number fixed when it was created.
//
// Contract
// - A new iterator is not positioned: call a seek first. key()/value()/next()/prev() need
//   valid(); calling them otherwise is a bug (asserted).
// - seek(t) positions at the first key >= t, seek_for_prev(t) at the last key <= t. Keys
//   outside ReadOptions' [lower_bound, upper_bound) are never visited.
// - valid() turns false at either end and on an error; status() then tells which (ok at an
//   end, corruption or io_error on a failed block read). Errors are sticky.
// - The iterator sees a consistent state: later writes, flushes and compactions do not
//   change what it returns.
//
// Ownership: an iterator pins the memtables and files it reads; it must be destroyed before
// its DB is closed (DB::close() returns busy otherwise). key() and value() are valid until the
// iterator moves or is destroyed. Not thread-safe: one iterator, one thread at a time.

#include <string_view>

#include "weaseldb/status.hpp"

namespace weaseldb::storage {

class Iterator {
 public:
  Iterator() = default;
  Iterator(const Iterator&) = delete;
  Iterator& operator=(const Iterator&) = delete;
  virtual ~Iterator() = default;

  virtual bool valid() const = 0;
  virtual void seek_to_first() = 0;
  virtual void seek_to_last() = 0;
  virtual void seek(std::string_view target) = 0;
  virtual void seek_for_prev(std::string_view target) = 0;
  virtual void next() = 0;
  virtual void prev() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  virtual Status status() const = 0;
};

}  // namespace weaseldb::storage
