#include "commit/request_index.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "core/assert.hpp"

namespace weasel {
namespace {

// Small first: a leader that sees few commits keeps a few KiB.
constexpr size_t kInitialRecords = 64;
constexpr size_t kInitialBytes = 4096;
constexpr size_t kInitialSlots = 128;

uint64_t hash_id(std::string_view id) { return XXH3_64bits(id.data(), id.size()); }

}  // namespace

RequestIndex::RequestIndex(const RequestIndexLimits& limits, uint64_t horizon)
    : limits_(limits),
      horizon_(horizon),
      records_(kInitialRecords),
      bytes_(kInitialBytes),
      slots_(kInitialSlots, 0) {
  WEASEL_ASSERT(limits_.max_entries >= 1 && limits_.max_versions >= 1 && limits_.max_age_ms >= 1);
  WEASEL_ASSERT(limits_.max_entries < kNumberMask);
}

std::optional<uint64_t> RequestIndex::committed_version(std::string_view request_id) const {
  uint64_t slot = slots_[find_slot(request_id, hash_id(request_id))];
  if (slot == 0) return std::nullopt;
  return record(number_of(slot)).version;
}

void RequestIndex::add_committed(std::string_view request_id, uint64_t version,
                                 int64_t timestamp_ms) {
  WEASEL_ASSERT(request_id.size() <= UINT16_MAX);
  const uint64_t hash = hash_id(request_id);
  if (slots_[find_slot(request_id, hash)] != 0) return;  // the first commit counts

  // Room for one more record, one more live slot at most half full, and the id's bytes even
  // after the padding that may skip the rest of a lap (less than the id's length).
  if (end_ - first_ == records_.size()) grow_records();
  if ((live_ + 1) * 2 > slots_.size()) grow_slots();
  const uint64_t span_after = bytes_end_ - bytes_first_ + 2 * request_id.size() + 1;
  if (span_after > bytes_.size()) {
    size_t capacity = bytes_.size();
    while (span_after > capacity) capacity += capacity / 2;
    grow_bytes(capacity);
  }

  const uint64_t number = end_++;
  record(number) = {version, timestamp_ms, store_id(request_id),
                    static_cast<uint16_t>(request_id.size()), true};
  insert_slot(slots_, hash, number);
  ++live_;

  while (end_ - first_ > limits_.max_entries) evict_front();
  while (first_ < end_) {
    const Record& oldest = record(first_);
    const bool too_many_versions =
        version - std::min(version, oldest.version) > limits_.max_versions;
    const bool too_old = timestamp_ms - oldest.timestamp_ms > limits_.max_age_ms;
    if (oldest.live && !too_many_versions && !too_old) break;
    evict_front();
  }
}

void RequestIndex::forget(std::string_view request_id) {
  const size_t slot = find_slot(request_id, hash_id(request_id));
  if (slots_[slot] == 0) return;
  // Its record stays, dead, until it reaches the front; the id may commit again meanwhile.
  record(number_of(slots_[slot])).live = false;
  erase_slot(slot);
  --live_;
}

size_t RequestIndex::find_slot(std::string_view id, uint64_t hash) const {
  const size_t mask = slots_.size() - 1;
  const uint64_t tag = tag_of(hash);
  for (size_t i = hash & mask;; i = (i + 1) & mask) {  // ends: the table is at most half full
    const uint64_t slot = slots_[i];
    if (slot == 0) return i;
    if ((slot & ~kNumberMask) == tag && id_of(record(number_of(slot))) == id) return i;
  }
}

void RequestIndex::insert_slot(std::vector<uint64_t>& slots, uint64_t hash, uint64_t number) {
  const size_t mask = slots.size() - 1;
  size_t i = hash & mask;
  while (slots[i] != 0) i = (i + 1) & mask;
  slots[i] = tag_of(hash) | (number & kNumberMask);
}

// Linear probing without tombstones: entries after the hole that may live there (their home
// is not strictly between the hole and themselves) move back into it, one hole at a time.
// Homes are recomputed from the ids: erasing is once per commit, a few probes at most.
void RequestIndex::erase_slot(size_t hole) {
  const size_t mask = slots_.size() - 1;
  for (size_t j = (hole + 1) & mask; slots_[j] != 0; j = (j + 1) & mask) {
    const size_t home = hash_id(id_of(record(number_of(slots_[j])))) & mask;
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = 0;
}

uint32_t RequestIndex::store_id(std::string_view id) {
  const uint64_t capacity = bytes_.size();
  uint64_t at = bytes_end_;
  if (at % capacity + id.size() > capacity) at += capacity - at % capacity;  // next lap
  WEASEL_ASSERT(at + id.size() - bytes_first_ < capacity);
  const auto offset = static_cast<uint32_t>(at % capacity);
  if (!id.empty()) std::memcpy(bytes_.data() + offset, id.data(), id.size());
  bytes_end_ = at + id.size();
  return offset;
}

void RequestIndex::evict_front() {
  Record& oldest = record(first_);
  if (oldest.live) {
    erase_slot(find_slot(id_of(oldest), hash_id(id_of(oldest))));
    --live_;
    // An evicted id may have committed at its version: lookups at or below it must read the
    // log.
    horizon_ = std::max(horizon_, oldest.version);
  }
  ++first_;
  if (first_ == end_) {
    bytes_first_ = bytes_end_;
    return;
  }
  // The next id starts less than a lap after the evicted one (the ring is never full).
  const uint64_t capacity = bytes_.size();
  bytes_first_ += (record(first_).id_offset + capacity - bytes_first_ % capacity) % capacity;
}

void RequestIndex::grow_records() {
  // Slots name records by number, so only the ring moves.
  WEASEL_ASSERT(records_.size() <= (size_t{1} << 40));
  std::vector<Record> records(records_.size() * 2);
  for (uint64_t n = first_; n < end_; ++n) records[n & (records.size() - 1)] = record(n);
  records_ = std::move(records);
}

void RequestIndex::grow_bytes(size_t capacity) {
  WEASEL_ASSERT(capacity <= UINT32_MAX);  // records keep 32-bit offsets
  std::vector<char> bytes(capacity);
  uint32_t at = 0;
  for (uint64_t n = first_; n < end_; ++n) {
    Record& r = record(n);
    if (r.id_len > 0) std::memcpy(bytes.data() + at, bytes_.data() + r.id_offset, r.id_len);
    r.id_offset = at;
    at += r.id_len;
  }
  bytes_ = std::move(bytes);
  bytes_first_ = 0;
  bytes_end_ = at;
}

void RequestIndex::grow_slots() {
  std::vector<uint64_t> slots(slots_.size() * 2, 0);
  for (uint64_t n = first_; n < end_; ++n) {
    const Record& r = record(n);
    if (r.live) insert_slot(slots, hash_id(id_of(r)), n);
  }
  slots_ = std::move(slots);
}

size_t RequestIndex::committed_memory_bytes() const {
  return records_.capacity() * sizeof(Record) + bytes_.capacity() +
         slots_.capacity() * sizeof(uint64_t);
}

bool RequestIndex::banned(std::string_view request_id) const {
  return banned_.find(request_id) != banned_.end();
}

void RequestIndex::ban(std::string_view request_id) {
  auto [it, inserted] = banned_.emplace(request_id);
  if (!inserted) return;
  banned_order_.emplace_back(*it);
  while (banned_.size() > limits_.max_entries) {
    banned_.erase(banned_order_.front());
    banned_order_.pop_front();
  }
}

}  // namespace weasel
