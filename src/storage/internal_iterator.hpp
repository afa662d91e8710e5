#pragma once
// InternalIterator: walks internal keys (internal_key.hpp) in internal-key order. Memtables,
// blocks, tables and merges of them all expose one, so reads compose them freely.
//
// Contract
// - Not positioned until a seek. key()/value()/next()/prev() need valid() (asserted).
// - seek(target) positions at the first entry >= target (an internal key).
// - valid() turns false at either end or on an error, which status() then reports; errors
//   are sticky until the next seek.
//
// Ownership: key() and value() stay valid until the iterator moves, unless the source says
// more (memtable and cached-block entries live as long as the memtable or block is pinned).

#include <string_view>

#include "weaseldb/status.hpp"

namespace weaseldb::storage {

class InternalIterator {
 public:
  InternalIterator() = default;
  InternalIterator(const InternalIterator&) = delete;
  InternalIterator& operator=(const InternalIterator&) = delete;
  virtual ~InternalIterator() = default;

  virtual bool valid() const = 0;
  virtual void seek_to_first() = 0;
  virtual void seek_to_last() = 0;
  virtual void seek(std::string_view target) = 0;
  virtual void next() = 0;
  virtual void prev() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  virtual Status status() const = 0;
};

}  // namespace weaseldb::storage
