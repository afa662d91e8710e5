#include "storage/range_tombstones.hpp"

#include <algorithm>
#include <set>

#include "core/assert.hpp"

namespace weaseldb::storage {

void RangeTombstoneSet::add(std::string_view begin, std::string_view end,
                            SequenceNumber sequence) {
  WEASEL_ASSERT(begin < end);
  pending_.push_back({std::string(begin), std::string(end), sequence});
}

void RangeTombstoneSet::finish() {
  // Sweep over every boundary, keeping the sequences of the tombstones open at each point.
  struct Event {
    std::string_view key;
    bool open;
    SequenceNumber sequence;
  };
  std::vector<Event> events;
  events.reserve(pending_.size() * 2);
  for (const Tombstone& t : pending_) {
    events.push_back({t.begin, true, t.sequence});
    events.push_back({t.end, false, t.sequence});
  }
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.key < b.key; });
  std::multiset<SequenceNumber> open;
  std::vector<Fragment> fragments;
  size_t i = 0;
  while (i < events.size()) {
    std::string_view at = events[i].key;
    for (; i < events.size() && events[i].key == at; ++i) {
      if (events[i].open) {
        open.insert(events[i].sequence);
      } else {
        open.erase(open.find(events[i].sequence));
      }
    }
    if (!fragments.empty() && fragments.back().end.empty()) fragments.back().end = at;
    if (open.empty()) continue;
    SequenceNumber top = *open.rbegin();
    if (!fragments.empty() && fragments.back().end == at && fragments.back().sequence == top) {
      fragments.back().end.clear();  // same cover continues: extend the fragment
    } else {
      fragments.push_back({std::string(at), std::string(), top});
    }
  }
  WEASEL_ASSERT(open.empty());
  fragments_ = std::move(fragments);
  pending_.clear();
  pending_.shrink_to_fit();
}

SequenceNumber RangeTombstoneSet::covering(std::string_view user_key) const {
  // The last fragment that begins at or before user_key.
  auto it = std::upper_bound(fragments_.begin(), fragments_.end(), user_key,
                             [](std::string_view k, const Fragment& f) { return k < f.begin; });
  if (it == fragments_.begin()) return 0;
  --it;
  return user_key < it->end ? it->sequence : 0;
}

}  // namespace weaseldb::storage
