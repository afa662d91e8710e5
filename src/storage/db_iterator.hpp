#pragma once
// DBIterator: turns the merged internal entries of a read (every version of every key) into
// the user's view as of one sequence: the newest visible version of each key, skipping keys
// whose newest version is a deletion or is covered by a newer range tombstone, within the
// read's bounds. LevelDB's DBIter, plus range tombstones and bounds.
//
// Contract: see weaseldb/iterator.hpp.
//
// Ownership: owns the internal iterator, the tombstone set and `pin`, an opaque object that
// keeps the memtables and tables being read alive (and counts live iterators for close()).

#include <memory>
#include <optional>
#include <string>

#include "storage/internal_iterator.hpp"
#include "storage/range_tombstones.hpp"
#include "weaseldb/iterator.hpp"
#include "weaseldb/options.hpp"

namespace weaseldb::storage {

std::unique_ptr<Iterator> new_db_iterator(std::unique_ptr<InternalIterator> internal,
                                          RangeTombstoneSet tombstones, SequenceNumber sequence,
                                          std::optional<std::string> lower_bound,
                                          std::optional<std::string> upper_bound,
                                          std::shared_ptr<void> pin);

// An iterator that is never valid and reports `status` (a failed creation).
std::unique_ptr<Iterator> new_error_iterator(Status status);

}  // namespace weaseldb::storage
