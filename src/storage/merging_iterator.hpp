#pragma once
// MergingIterator: one ordered walk over several InternalIterators (memtables and tables),
// LevelDB's design: the current child is the one with the smallest (forward) or largest
// (backward) key; switching direction repositions every other child around the current key.
//
// Contract: children hold disjoint internal keys (each write has its own sequence number), so
// ties never happen. The first child error stops the walk and is reported by status().
// Children are compared linearly: the engine merges a handful of sources (memtables and
// L0 files; one iterator per deeper level).
//
// Ownership: owns its children.

#include <memory>
#include <vector>

#include "storage/internal_iterator.hpp"

namespace weaseldb::storage {

std::unique_ptr<InternalIterator> new_merging_iterator(
    std::vector<std::unique_ptr<InternalIterator>> children);

}  // namespace weaseldb::storage
