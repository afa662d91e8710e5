#pragma once
// MemTable: the newest writes, in memory, ordered by internal key (a skiplist in an arena).
// Point entries (values and deletions) and range tombstones are kept in two lists, so that
// point reads never walk tombstones and tombstone lookups never walk values.
//
// Contract
// - add() is called by one writer at a time; get(), covering_tombstone() and iterators run
//   concurrently with it and with each other, lock-free. Readers must only ask for sequences
//   the writer has finished (the DB publishes a write's sequence after inserting all of it),
//   which makes every read see whole writes.
// - get() finds the newest point entry of a key at or below a sequence; range tombstones are
//   answered separately by covering_tombstone(), because a tombstone in a newer memtable or
//   table can hide an entry found in an older one.
// - memory_bytes() counts what the arena handed out (entries and skiplist nodes); the DB
//   compares it to Options::memtable_bytes. Readable from any thread.
//
// Ownership: the memtable owns its arena and every entry. Iterators borrow the memtable,
// which must outlive them (the DB holds a shared_ptr for every reader).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "storage/internal_iterator.hpp"
#include "storage/internal_key.hpp"
#include "storage/memtable_arena.hpp"
#include "storage/skiplist.hpp"

namespace weaseldb::storage {

class MemTable {
 public:
  MemTable();
  MemTable(const MemTable&) = delete;
  MemTable& operator=(const MemTable&) = delete;

  // For kRangeDeletion, `key` is the range's begin and `value` its end.
  void add(SequenceNumber sequence, ValueType type, std::string_view key,
           std::string_view value);

  // The newest point entry of key.user_key() at or below key's sequence. The value is copied
  // into *value when one is found.
  LookupResult get(const LookupKey& key, std::string* value) const;

  // The highest sequence <= `sequence` of a range tombstone covering user_key, or 0.
  SequenceNumber covering_tombstone(std::string_view user_key, SequenceNumber sequence) const;

  // Point entries: key() is the internal key, value() the value (empty for a deletion).
  std::unique_ptr<InternalIterator> new_iterator() const;
  // Range tombstones: key() is the internal key of the begin, value() the end.
  std::unique_ptr<InternalIterator> new_range_tombstone_iterator() const;

  size_t memory_bytes() const { return memory_bytes_.load(std::memory_order_relaxed); }
  uint64_t entry_count() const { return entry_count_.load(std::memory_order_relaxed); }
  uint64_t range_tombstone_count() const {
    return tombstone_count_.load(std::memory_order_relaxed);
  }

 private:
  // Entries: varint32 internal key length | internal key | varint32 value length | value.
  // Orders entries by internal key; a searched entry is decoded to its internal key once.
  struct EntryComparator {
    std::string_view decode(const char* entry) const;
    int compare(const char* entry, std::string_view internal_key) const;
  };
  using Table = SkipList<EntryComparator>;
  class Iter;

  MemTableArena arena_;
  Table points_;
  Table tombstones_;
  std::atomic<size_t> memory_bytes_{0};
  std::atomic<uint64_t> entry_count_{0};
  std::atomic<uint64_t> tombstone_count_{0};
};

}  // namespace weaseldb::storage
