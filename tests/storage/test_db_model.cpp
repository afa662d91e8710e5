// DB against a trivially correct model (std::map): random writes, batches, range deletes,
// explicit sequences, flushes and reopens, checked by point reads, scans in both directions,
// bounded scans and reads as of older sequences.

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "db_test_util.hpp"

namespace weaseldb::storage {
namespace {

using test::Model;

struct Harness {
  std::mt19937_64 rng;
  test::TempDir dir;
  Options options = test::small_options();
  std::unique_ptr<DB> db;
  Model model;
  // Model copies at some past sequences, read back with ReadOptions::sequence.
  std::vector<std::pair<SequenceNumber, Model>> history;

  // With a moving floor, history older than the oldest kept model copy may be compacted
  // away; without, the floor stays at 0 and compaction keeps every version.
  bool moving_floor;

  Harness(uint64_t seed, bool moving) : rng(seed), moving_floor(moving) {
    options.l0_compaction_trigger = 3;
    options.l0_stop_writes_trigger = 6;
    options.target_file_bytes = 16 << 10;
    options.level1_bytes = 32 << 10;  // small levels: data moves through several
    options.level_size_multiplier = 2;
    options.max_levels = 4;
    reopen();
  }

  SequenceNumber floor() const {
    if (!moving_floor) return 0;
    return history.empty() ? db->latest_sequence() : history.front().first;
  }

  void reopen() {
    if (db) {
      options.history_floor = floor();
      REQUIRE(db->close().ok());
    } else {
      options.history_floor = 0;
    }
    db.reset();
    db = test::open_db(dir.sub("db"), options);
  }

  void remember() {
    if (history.size() >= 4) history.erase(history.begin());
    history.emplace_back(db->latest_sequence(), model);
    if (moving_floor) REQUIRE(db->set_history_floor(history.front().first).ok());
  }

  std::string key() { return test::numbered("k", rng() % 200); }
  std::string value() { return test::random_bytes(rng, rng() % 300); }

  void add_random_op(WriteBatch* batch, Model* m) {
    uint64_t dice = rng() % 20;
    if (dice < 12) {
      std::string k = key(), v = value();
      batch->put(k, v);
      (*m)[k] = v;
    } else if (dice < 18) {
      std::string k = key();
      batch->del(k);
      m->erase(k);
    } else {
      std::string b = key(), e = key();
      if (b == e) return;
      if (e < b) std::swap(b, e);
      batch->delete_range(b, e);
      m->erase(m->lower_bound(b), m->lower_bound(e));
    }
  }

  void write() {
    WriteBatch batch;
    size_t ops = rng() % 4 == 0 ? 1 + rng() % 12 : 1;
    for (size_t i = 0; i < ops; ++i) add_random_op(&batch, &model);
    WriteOptions w;
    if (rng() % 3 == 0) w.sequence = db->latest_sequence() + 1 + rng() % 5;
    REQUIRE(db->write(w, batch).ok());
    if (w.sequence) REQUIRE(db->latest_sequence() == *w.sequence);
  }

  void check_point_reads() {
    for (int i = 0; i < 20; ++i) {
      std::string k = key();
      auto it = model.find(k);
      INFO("key " << k);
      REQUIRE(test::get_or(*db, k) == (it == model.end() ? "<none>" : it->second));
    }
  }

  void check_scans() {
    REQUIRE(test::scan(*db) == model);
    REQUIRE(test::scan_backward(*db) == model);
    ReadOptions bounded;
    std::string lo = key(), hi = key();
    if (hi < lo) std::swap(lo, hi);
    bounded.lower_bound = lo;
    bounded.upper_bound = hi;
    Model expected(model.lower_bound(lo), model.lower_bound(hi));
    REQUIRE(test::scan(*db, bounded) == expected);
    REQUIRE(test::scan_backward(*db, bounded) == expected);
  }

  void check_seeks() {
    auto it = db->new_iterator({});
    for (int i = 0; i < 20; ++i) {
      std::string target = key();
      auto m = model.lower_bound(target);
      it->seek(target);
      REQUIRE(it->valid() == (m != model.end()));
      if (m == model.end()) continue;
      REQUIRE(it->key() == m->first);
      // A few steps each way from there, switching direction.
      it->prev();
      if (m == model.begin()) {
        REQUIRE_FALSE(it->valid());
        continue;
      }
      REQUIRE(it->key() == std::prev(m)->first);
      it->next();
      REQUIRE(it->key() == m->first);
      it->next();
      auto after = std::next(m);
      REQUIRE(it->valid() == (after != model.end()));
      if (after != model.end()) REQUIRE(it->key() == after->first);
    }
  }

  void check_history() {
    for (const auto& entry : history) {
      ReadOptions r;
      r.sequence = entry.first;
      INFO("as of " << entry.first);  // not a structured binding: INFO captures it
      REQUIRE(test::scan(*db, r) == entry.second);
    }
  }
};

TEST_CASE("db model: random operations agree with a std::map") {
  for (uint64_t seed : {1, 2, 3, 4}) {
    bool moving = seed % 2 == 0;
    INFO("seed " << seed << std::string(moving ? ", moving history floor" : ", all history kept"));
    Harness h(seed, moving);
    for (int step = 0; step < 2000; ++step) {
      uint64_t dice = h.rng() % 1000;
      if (dice < 850) {
        h.write();
      } else if (dice < 900) {
        h.check_point_reads();
      } else if (dice < 930) {
        h.check_seeks();
      } else if (dice < 950) {
        h.check_scans();
      } else if (dice < 965) {
        h.remember();
      } else if (dice < 972) {
        if (h.rng() % 3 == 0) {
          REQUIRE(h.db->compact_range(std::nullopt, std::nullopt).ok());
        } else {
          REQUIRE(h.db->flush().ok());
        }
      } else if (dice < 992) {
        h.check_history();
      } else {
        h.reopen();
        h.check_scans();
      }
    }
    h.check_scans();
    h.check_history();
    REQUIRE(h.db->compact_range(std::nullopt, std::nullopt).ok());
    CHECK(h.db->statistics().compactions > 0);
    CHECK(h.db->statistics().l0_files == 0);
    h.check_scans();
    h.check_history();  // tables were written and are read
    h.reopen();
    h.check_scans();
    h.check_history();
  }
}

}  // namespace
}  // namespace weaseldb::storage
