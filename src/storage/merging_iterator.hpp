#pragma once
// MergingIterator: one ordered walk over several InternalIterators (memtables and tables),
// LevelDB's design: the current child is the one with the smallest (forward) or largest
// (backward) key; switching direction repositions every other child around the current key.
//
// Contract: children hold disjoint internal keys (each write has its own sequence number), so
// ties never happen. The first child error stops the walk and is reported by status().
// The valid children sit in a binary heap ordered by their current key (a min-heap going
// forward, a max-heap going backward), so a step costs O(log children) comparisons however
// many memtables and L0 files a read merges; the heap is allocated once, at construction.
//
// Ownership: owns its children.

#include <memory>
#include <vector>

#include "storage/internal_iterator.hpp"

namespace weaseldb::storage {

std::unique_ptr<InternalIterator> new_merging_iterator(
    std::vector<std::unique_ptr<InternalIterator>> children);

}  // namespace weaseldb::storage
