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
//   with such an id is not_committed. Bounded by the same entry limit (FIFO).
//
// Memory is bounded by max_entries * (id bytes + overhead) for each map.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

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
  // `timestamp_ms` is the commit's time (the log's), for the age limit.
  void add_committed(std::string_view request_id, uint64_t version, int64_t timestamp_ms);
  bool banned(std::string_view request_id) const;
  void ban(std::string_view request_id);
  // Forgets a committed entry (its batch failed to become durable).
  void forget(std::string_view request_id);

  // Commits at versions <= horizon() may be missing from the index.
  uint64_t horizon() const { return horizon_; }
  size_t committed_count() const { return committed_.size(); }
  size_t banned_count() const { return banned_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Added {
    std::string_view id;  // the key owned by committed_ (node-based: stable)
    uint64_t version;
    int64_t timestamp_ms;
  };
  void evict_front();

  const RequestIndexLimits limits_;
  uint64_t horizon_;
  std::unordered_map<std::string, uint64_t, Hash, std::equal_to<>> committed_;
  std::deque<Added> committed_order_;
  std::unordered_set<std::string, Hash, std::equal_to<>> banned_;
  std::deque<std::string> banned_order_;
};

}  // namespace weasel
