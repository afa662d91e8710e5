#pragma once
// RequestIndex: what the leader remembers of request ids, for idempotent retries and for
// /v1/status (SPEC section 3). Owned and used by the resolve stage only (single thread), which
// is where a transaction's fate is decided, so no locking is needed.
//
// - committed: request id -> version, for the most recent commits (FIFO eviction): at most
//   `limits.max_entries` of them, none more than `limits.max_versions` versions or
//   `limits.max_age_ms` older than the newest one added (commit.request_id_retention_*; both
//   are applied as commits arrive). Every commit with version > horizon() is in it; older
//   ones may have been evicted (or predate this process), and the caller must consult the
//   log for them.
// - banned: request ids closed by a status lookup before they committed; a later commit
//   with such an id is not_committed. Bounded by the same entry limit (FIFO). Bans are rare
//   (a status lookup of an id that has not committed), so they live in an ordinary set.
//
// Layout of the committed ids. Every commit adds one (the server generates an id when the
// client gives none), so at the default million entries this is the leader's largest
// structure after the conflict set, and it is compact: a FIFO ring of 24-byte records, the id
// bytes in a second ring (each id contiguous), and an open-addressing table of record numbers
// (8 bytes, at most half full) with linear probing and backward-shift deletion (no
// tombstones). About 24 + id bytes + 16 per entry, where node-based maps took about twice
// that: at a million 36-byte ids, 92 MB instead of 150 MB of RSS (bench/README.md, "Request
// ids"). Each ring and the table grow alone, by copying, as entries arrive, so an idle leader
// stays small and a growth holds at most one of them twice.
// No allocation per commit in the steady state.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace weasel {

struct RequestIndexLimits {
  size_t max_entries = 1'000'000;             // commit.request_id_index_entries
  uint64_t max_versions = 100'000'000;        // commit.request_id_retention_versions
  int64_t max_age_ms = int64_t{24} * 3'600'000;  // commit.request_id_retention_hours
};

class RequestIndex {
 public:
  // `horizon` is the version up to which the index is known to be incomplete (the log's latest
  // version when the process started, before the index is rebuilt from the log).
  RequestIndex(const RequestIndexLimits& limits, uint64_t horizon);

  std::optional<uint64_t> committed_version(std::string_view request_id) const;
  // `timestamp_ms` is the commit's time (the log's), for the age limit. The first commit of
  // an id is the one that counts: adding an id already present changes nothing.
  void add_committed(std::string_view request_id, uint64_t version, int64_t timestamp_ms);
  bool banned(std::string_view request_id) const;
  void ban(std::string_view request_id);
  // Forgets a committed entry (its batch failed to become durable).
  void forget(std::string_view request_id);

  // Commits at versions <= horizon() may be missing from the index.
  uint64_t horizon() const { return horizon_; }
  size_t committed_count() const { return live_; }
  size_t banned_count() const { return banned_.size(); }
  // Bytes held by the committed ids' rings and table (capacity, not just what is used).
  size_t committed_memory_bytes() const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // One committed id, in commit order. Records of forgotten ids stay (dead) until they reach
  // the front, so that the FIFO never has holes to close.
  struct Record {
    uint64_t version;
    int64_t timestamp_ms;
    uint32_t id_offset;  // where the id's bytes start in bytes_ (never wrapping its end)
    uint16_t id_len;
    bool live;
  };
  static_assert(sizeof(Record) == 24);
  // A slot is 0 (empty) or a record number (its low 48 bits) under a 16-bit tag from the id's
  // hash, never 0, so that most probes that miss never read the record. Record numbers are
  // unique among the live records as long as fewer than 2^48 commits separate the oldest
  // from the newest, which the entry limit guarantees.
  static constexpr uint64_t kNumberMask = (uint64_t{1} << 48) - 1;
  static uint64_t tag_of(uint64_t hash) { return (hash | (uint64_t{1} << 48)) & ~kNumberMask; }

  size_t ring_index(uint64_t n) const { return n & (records_.size() - 1); }
  Record& record(uint64_t n) { return records_[ring_index(n)]; }
  const Record& record(uint64_t n) const { return records_[ring_index(n)]; }
  // The record a slot names: the one in use whose number has those low 48 bits.
  uint64_t number_of(uint64_t slot) const {
    return end_ - 1 - ((end_ - 1 - slot) & kNumberMask);
  }
  std::string_view id_of(const Record& r) const { return {bytes_.data() + r.id_offset, r.id_len}; }
  // The slot holding the live record of `id`, or the empty slot where it would go.
  size_t find_slot(std::string_view id, uint64_t hash) const;
  static void insert_slot(std::vector<uint64_t>& slots, uint64_t hash, uint64_t number);
  void erase_slot(size_t slot);
  uint32_t store_id(std::string_view id);
  // Each grows one structure (the rings and the table grow independently, so that a growth
  // holds at most one structure twice).
  void grow_records();
  void grow_bytes(size_t capacity);
  void grow_slots();
  void evict_front();

  const RequestIndexLimits limits_;
  uint64_t horizon_;

  // Ring of records, power-of-two size: records numbered [first_, end_) are in use, record n
  // at ring_index(n).
  std::vector<Record> records_;
  uint64_t first_ = 0;
  uint64_t end_ = 0;
  // Ring of id bytes, power-of-two size: absolute positions [bytes_first_, bytes_end_) are in
  // use (position p at p mod size); an id that would cross the end starts the next lap.
  std::vector<char> bytes_;
  uint64_t bytes_first_ = 0;
  uint64_t bytes_end_ = 0;
  std::vector<uint64_t> slots_;  // power-of-two size, at most half full
  size_t live_ = 0;

  std::unordered_set<std::string, Hash, std::equal_to<>> banned_;
  std::deque<std::string> banned_order_;
};

}  // namespace weasel
