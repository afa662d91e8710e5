// Tests for RequestIndex (src/commit/request_index.hpp): the entry, version and age limits,
// the horizon below which lookups must go to the log, forget, and bans; a randomized run
// against a plain model (node-based map + FIFO); memory bounded by the entry limit.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <deque>
#include <random>
#include <string>
#include <unordered_map>

#include "commit/request_index.hpp"

namespace weasel {
namespace {

std::string id(int i) { return "request-id-" + std::to_string(i) + "-padding-padding"; }

// The index's contract in the most obvious code: a map and a FIFO of (id, version, time).
class ModelIndex {
 public:
  ModelIndex(const RequestIndexLimits& limits, uint64_t horizon)
      : limits_(limits), horizon_(horizon) {}

  std::optional<uint64_t> committed_version(const std::string& id) const {
    auto it = map_.find(id);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  void add_committed(const std::string& id, uint64_t version, int64_t timestamp_ms) {
    if (map_.contains(id)) return;
    map_[id] = version;
    fifo_.push_back({id, version, timestamp_ms, true});
    while (fifo_.size() > limits_.max_entries) evict_front();
    while (!fifo_.empty()) {
      const Added& oldest = fifo_.front();
      bool expired = version - std::min(version, oldest.version) > limits_.max_versions ||
                     timestamp_ms - oldest.timestamp_ms > limits_.max_age_ms;
      if (oldest.live && !expired) break;
      evict_front();
    }
  }
  void forget(const std::string& id) {
    auto it = map_.find(id);
    if (it == map_.end()) return;
    for (Added& a : fifo_) {
      if (a.live && a.id == id) a.live = false;
    }
    map_.erase(it);
  }
  uint64_t horizon() const { return horizon_; }
  size_t committed_count() const { return map_.size(); }

 private:
  struct Added {
    std::string id;
    uint64_t version;
    int64_t timestamp_ms;
    bool live;
  };
  void evict_front() {
    const Added& oldest = fifo_.front();
    if (oldest.live) {
      map_.erase(oldest.id);
      horizon_ = std::max(horizon_, oldest.version);
    }
    fifo_.pop_front();
  }
  RequestIndexLimits limits_;
  uint64_t horizon_;
  std::unordered_map<std::string, uint64_t> map_;
  std::deque<Added> fifo_;
};

// An id of 0..128 characters (most 36, like the generated UUIDs) from a small pool, so that
// duplicates, re-adds after eviction and re-adds after forget all happen.
std::string random_id(std::mt19937_64& rng, int pool) {
  uint64_t n = rng() % static_cast<uint64_t>(pool);
  size_t len = rng() % 4 == 0 ? n % 129 : 36;
  std::string id = std::to_string(n) + ":";
  while (id.size() < len) id.push_back(static_cast<char>('a' + (n + id.size()) % 26));
  id.resize(len);
  return id;
}

}  // namespace

TEST_CASE("request index: the entry limit evicts oldest first and raises the horizon") {
  RequestIndex index({.max_entries = 3, .max_versions = 1000, .max_age_ms = 1'000'000}, 5);
  CHECK(index.horizon() == 5);
  for (int i = 1; i <= 5; ++i) index.add_committed(id(i), 10 + i, 0);
  CHECK(index.committed_count() == 3);
  CHECK_FALSE(index.committed_version(id(2)));
  CHECK(index.committed_version(id(3)) == 13);
  CHECK(index.horizon() == 12);  // id 2 at version 12 may be missing now
  // The first commit of an id counts; a second add changes nothing.
  index.add_committed(id(5), 99, 0);
  CHECK(index.committed_version(id(5)) == 15);
}

TEST_CASE("request index: ids older than max_versions or max_age_ms leave it") {
  RequestIndex index({.max_entries = 100, .max_versions = 10, .max_age_ms = 1000}, 0);
  index.add_committed(id(1), 1, 0);
  index.add_committed(id(2), 5, 500);
  index.add_committed(id(3), 11, 600);  // 11 - 1 = 10 versions: still kept
  CHECK(index.committed_version(id(1)) == 1);
  index.add_committed(id(4), 12, 700);  // 12 - 1 > 10: id 1 goes
  CHECK_FALSE(index.committed_version(id(1)));
  CHECK(index.horizon() == 1);
  index.add_committed(id(5), 13, 1501);  // 1501 - 500 > 1000 ms: id 2 goes
  CHECK_FALSE(index.committed_version(id(2)));
  CHECK(index.committed_version(id(3)) == 11);
  CHECK(index.horizon() == 5);
  CHECK(index.committed_count() == 3);
}

TEST_CASE("request index: forget drops an entry; the id can commit again later") {
  RequestIndex index({.max_entries = 2, .max_versions = 1000, .max_age_ms = 1'000'000}, 0);
  index.add_committed(id(1), 1, 0);
  index.add_committed(id(2), 2, 0);
  index.forget(id(2));
  CHECK_FALSE(index.committed_version(id(2)));
  CHECK(index.committed_count() == 1);
  index.add_committed(id(2), 3, 0);
  index.add_committed(id(3), 4, 0);  // over the limit: id 1 goes, id 2 (version 3) stays
  CHECK_FALSE(index.committed_version(id(1)));
  CHECK(index.committed_version(id(2)) == 3);
  CHECK(index.committed_version(id(3)) == 4);
  index.add_committed(id(4), 5, 0);
  CHECK_FALSE(index.committed_version(id(2)));
  CHECK(index.committed_count() == 2);
}

TEST_CASE("request index: bans are bounded by the entry limit") {
  RequestIndex index({.max_entries = 2, .max_versions = 10, .max_age_ms = 10}, 0);
  index.ban(id(1));
  index.ban(id(2));
  index.ban(id(1));
  CHECK(index.banned(id(1)));
  index.ban(id(3));
  CHECK_FALSE(index.banned(id(1)));
  CHECK(index.banned(id(2)));
  CHECK(index.banned(id(3)));
  CHECK(index.banned_count() == 2);
}


TEST_CASE("request index: randomized against the plain model") {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    const RequestIndexLimits limits{.max_entries = 1 + rng() % 3000,
                                    .max_versions = 50 + rng() % 20000,
                                    .max_age_ms = 10 + static_cast<int64_t>(rng() % 50000)};
    const int pool = 100 + static_cast<int>(rng() % 20000);
    RequestIndex index(limits, 7);
    ModelIndex model(limits, 7);
    uint64_t version = 0;
    int64_t now_ms = 0;
    for (int op = 0; op < 200'000; ++op) {
      std::string id = random_id(rng, pool);
      switch (rng() % 8) {
        case 0:
          index.forget(id);
          model.forget(id);
          break;
        case 1:
        case 2:
          REQUIRE(index.committed_version(id) == model.committed_version(id));
          break;
        default:
          version += 1 + rng() % 3;
          now_ms += static_cast<int64_t>(rng() % 4);
          index.add_committed(id, version, now_ms);
          model.add_committed(id, version, now_ms);
          break;
      }
      REQUIRE(index.committed_count() == model.committed_count());
      REQUIRE(index.horizon() == model.horizon());
    }
    for (int i = 0; i < pool; ++i) {
      std::mt19937_64 probe(static_cast<uint64_t>(i));
      std::string id = random_id(probe, pool);
      REQUIRE(index.committed_version(id) == model.committed_version(id));
    }
  }
}

TEST_CASE("request index: memory follows the entry limit, not the number of commits") {
  RequestIndex index({.max_entries = 10'000, .max_versions = 1'000'000'000,
                      .max_age_ms = 1'000'000'000},
                     0);
  for (uint64_t v = 1; v <= 500'000; ++v) {
    index.add_committed(fmt::format("{:036}", v), v, 0);
  }
  CHECK(index.committed_count() == 10'000);
  CHECK(index.committed_version(fmt::format("{:036}", 500'000)) == 500'000);
  CHECK_FALSE(index.committed_version(fmt::format("{:036}", 490'000)));
  CHECK(index.horizon() == 490'000);
  // Records 32 B, ids 36 B, slots 8 B at most half full; rings and table rounded up.
  CHECK(index.committed_memory_bytes() <= 10'000 * 2 * (32 + 36 + 2 * 8));
}

}  // namespace weasel
