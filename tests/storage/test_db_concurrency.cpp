// DB under concurrent writers (group commit, every durability mode, flush and compaction
// requests in between, background compactions) and readers (snapshots, scans, gets): every read sees whole writes, in each writer's order.
// Run under TSan (label concurrency).

#include <doctest/doctest.h>

#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "db_test_util.hpp"

namespace weaseldb::storage {
namespace {

constexpr int kWriters = 3;
constexpr int kWritesEach = 600;

std::string pair_key(int writer, int i, char half) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "w%d/%c/%05d", writer, half, i);
  return buf;
}

// Checks one consistent view: both halves of every pair or neither, equal values, and for
// each writer a prefix of its writes.
bool view_is_consistent(const test::Model& view) {
  for (int w = 0; w < kWriters; ++w) {
    int present = 0;
    while (view.count(pair_key(w, present, 'a')) != 0) ++present;
    for (int i = 0; i < kWritesEach; ++i) {
      auto a = view.find(pair_key(w, i, 'a'));
      auto b = view.find(pair_key(w, i, 'b'));
      bool expected = i < present;
      if ((a != view.end()) != expected || (b != view.end()) != expected) return false;
      if (expected && a->second != b->second) return false;
    }
  }
  return true;
}

TEST_CASE("db concurrency: writers, flushes and readers") {
  test::TempDir dir;
  Options options = test::small_options();
  options.l0_compaction_trigger = 2;  // compactions race the readers and their snapshots
  options.target_file_bytes = 32 << 10;
  options.level1_bytes = 64 << 10;  // compactions below L1 race the readers too
  options.level_size_multiplier = 2;
  auto db = test::open_db(dir.sub("db"), options);
  std::atomic<int> writers_left{kWriters};
  std::atomic<bool> failed{false};
  std::latch start(kWriters + 3);

  auto writer = [&](int w) {
    start.arrive_and_wait();
    for (int i = 0; i < kWritesEach && !failed; ++i) {
      WriteBatch batch;
      std::string value(100 + (i * 7) % 300, static_cast<char>('a' + w));
      batch.put(pair_key(w, i, 'a'), value);
      batch.put(pair_key(w, i, 'b'), value);
      WriteOptions wo;
      if (i % 50 == 0) wo.durability = w == 0 ? Durability::kSyncEachWrite : Durability::kGroupSync;
      if (!db->write(wo, batch).ok()) failed = true;
    }
    writers_left.fetch_sub(1);
  };
  auto flusher = [&] {
    start.arrive_and_wait();
    for (int i = 0; i < 5 && !failed; ++i) {
      if (!db->flush().ok()) failed = true;
      if (i == 2 && !db->compact_range(std::nullopt, std::nullopt).ok()) failed = true;
    }
  };
  auto reader = [&] {
    start.arrive_and_wait();
    // Bounded: each pass is a full check; writers finish in far fewer passes than this.
    for (int pass = 0; pass < 100000 && writers_left.load() > 0 && !failed; ++pass) {
      ReadOptions r;
      r.snapshot = db->snapshot();
      test::Model view;
      auto it = db->new_iterator(r);
      for (it->seek_to_first(); it->valid(); it->next()) {
        view.emplace(std::string(it->key()), std::string(it->value()));
      }
      if (!it->status().ok() || !view_is_consistent(view)) failed = true;
      std::string value;
      Status s = db->get(r, pair_key(1, 0, 'b'), &value);
      if (!s.ok() && s.code() != StatusCode::kNotFound) failed = true;
    }
  };

  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) threads.emplace_back(writer, w);
  threads.emplace_back(flusher);
  threads.emplace_back(reader);
  threads.emplace_back(reader);
  for (std::thread& t : threads) t.join();
  REQUIRE_FALSE(failed.load());
  CHECK(db->latest_sequence() == kWriters * kWritesEach);
  test::Model all = test::scan(*db);
  CHECK(all.size() == 2 * kWriters * kWritesEach);
  CHECK(view_is_consistent(all));
  REQUIRE(db->close().ok());
  auto reopened = test::open_db(dir.sub("db"), options);
  CHECK(test::scan(*reopened) == all);
}

TEST_CASE("db concurrency: single-key writers alone and queued, every durability") {
  // put() and del() from several threads: a writer that finds no one ahead leads alone
  // (write_solo) while the others queue behind it and lead groups; both paths interleave.
  test::TempDir dir;
  auto db = test::open_db(dir.sub("db"), test::small_options());
  constexpr int kThreads = 4;
  constexpr int kEach = 400;
  std::atomic<bool> failed{false};
  std::latch start(kThreads);
  auto writer = [&](int w) {
    start.arrive_and_wait();
    for (int i = 0; i < kEach && !failed; ++i) {
      WriteOptions wo;
      if (i % 40 == 0) wo.durability = Durability::kSyncEachWrite;
      if (i % 40 == 20) wo.durability = Durability::kGroupSync;
      std::string key = pair_key(w, i, 'a');
      if (!db->put(wo, key, std::string(50, static_cast<char>('a' + w))).ok()) failed = true;
      if (i % 3 == 0 && !db->del(wo, key).ok()) failed = true;
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) threads.emplace_back(writer, w);
  for (std::thread& t : threads) t.join();
  REQUIRE_FALSE(failed.load());
  constexpr int kDeletes = (kEach + 2) / 3;
  CHECK(db->latest_sequence() == kThreads * (kEach + kDeletes));
  test::Model all = test::scan(*db);
  CHECK(all.size() == kThreads * (kEach - kDeletes));
  REQUIRE(db->close().ok());
  auto reopened = test::open_db(dir.sub("db"), test::small_options());
  CHECK(test::scan(*reopened) == all);
}

}  // namespace
}  // namespace weaseldb::storage
