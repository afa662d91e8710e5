#pragma once
// RangeTombstoneSet: the range tombstones visible to one read, cut into non-overlapping
// fragments that each carry the highest sequence covering them, so that "is this entry
// deleted by a range?" is one binary search.
//
// Contract: add() every tombstone (in any order, with begin < end), then finish(); after that
// only covering() is called. covering(k) is the highest sequence among the added tombstones
// whose [begin, end) holds k, or 0.
//
// Ownership: owns copies of the bounds.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "weaseldb/options.hpp"

namespace weaseldb::storage {

class RangeTombstoneSet {
 public:
  void add(std::string_view begin, std::string_view end, SequenceNumber sequence);
  void finish();
  SequenceNumber covering(std::string_view user_key) const;
  bool empty() const { return fragments_.empty(); }
  size_t fragment_count() const { return fragments_.size(); }

 private:
  struct Tombstone {
    std::string begin;
    std::string end;
    SequenceNumber sequence;
  };
  struct Fragment {
    std::string begin;  // up to the next fragment's begin, or to `end` for the last one
    std::string end;
    SequenceNumber sequence;
  };
  std::vector<Tombstone> pending_;
  std::vector<Fragment> fragments_;  // sorted, non-overlapping
};

}  // namespace weaseldb::storage
