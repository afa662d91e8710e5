#pragma once
// LevelIterator: one InternalIterator over the files of a level whose key ranges do not
// overlap (L1 and below), opening one table iterator at a time, so a level costs the merge
// one child however many files it has.
//
// Contract: `files` are ordered by key with disjoint ranges; their metas' smallest/largest
// internal keys bound their contents (a largest key may be a range tombstone's end sentinel,
// which sorts before every real entry of its user key, so seeks land in the right file).
//
// Ownership: borrows `files`, which `owner` keeps alive (the read state holding the level), so
// that creating an iterator copies no file list.

#include <memory>
#include <vector>

#include "storage/compaction.hpp"
#include "storage/internal_iterator.hpp"

namespace weaseldb::storage {

std::unique_ptr<InternalIterator> new_level_iterator(std::shared_ptr<const void> owner,
                                                     const std::vector<LiveTable>* files,
                                                     const BlockReadOptions& options);

// The file of a sorted, disjoint level that may hold user_key, or nullptr.
const LiveTable* find_level_file(const std::vector<LiveTable>& files, std::string_view user_key);

}  // namespace weaseldb::storage
