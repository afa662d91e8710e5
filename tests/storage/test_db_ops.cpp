// What an operator relies on: statistics that move with real work, the table cache's bound
// on open files, the compaction rate limiter, and write stalls that are counted.

#include <doctest/doctest.h>

#include <dirent.h>

#include <future>
#include <thread>

#include "db_test_util.hpp"
#include "storage/rate_limiter.hpp"
#include "storage/table_cache.hpp"

namespace weaseldb::storage {
namespace {

size_t open_fds() {
  size_t n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  REQUIRE(dir != nullptr);
  while (struct dirent* e = ::readdir(dir)) n += e->d_name[0] != '.';
  ::closedir(dir);
  return n - 1;  // the directory stream itself
}

size_t count_tables(const std::string& path) {
  size_t n = 0;
  auto names = list_dir(path);
  REQUIRE(names.ok());
  for (const std::string& name : names.value()) n += name.ends_with(".sst");
  return n;
}

void fill(DB& db, uint64_t first, uint64_t count, size_t value_bytes) {
  std::mt19937_64 rng(first);
  for (uint64_t i = first; i < first + count; ++i) {
    REQUIRE(db.put({}, test::numbered("key", 100000 + i), test::random_bytes(rng, value_bytes))
                .ok());
  }
}

TEST_CASE("statistics: the counters move with flushes, compactions, reads and caches") {
  test::TempDir dir;
  Options options = test::small_options();
  options.durability = Durability::kGroupSync;
  // The fill below seals about four 64 KiB memtables. With room for eight sealed ones, and
  // L0 far below its stop trigger, no writer can ever wait, however slow the background
  // flushes are on a loaded machine: `stalls == 0` below is then a fact, not a race.
  options.max_immutable_memtables = 8;
  auto db = test::open_db(dir.path(), options);
  Statistics before = db->statistics();
  CHECK(before.flushes == 0);
  CHECK(before.wal_bytes_written == 0);

  fill(*db, 0, 400, 500);
  REQUIRE(db->flush().ok());
  REQUIRE(db->compact_range(std::nullopt, std::nullopt).ok());
  std::string value;
  for (int round = 0; round < 2; ++round) {  // the second round hits the block cache
    for (uint64_t i = 0; i < 400; i += 10) {
      REQUIRE(db->get({}, test::numbered("key", 100000 + i), &value).ok());
    }
  }
  Statistics st = db->statistics();
  CHECK(st.wal_bytes_written > 400 * 500);
  CHECK(st.wal_syncs >= 400);  // one writer: every group commit syncs
  CHECK(st.flushes >= 1);
  CHECK(st.flush_bytes_written > 0);
  CHECK(st.compactions >= 1);
  CHECK(st.compaction_bytes_written > 0);
  CHECK(st.compaction_input_bytes > 0);
  CHECK(st.compaction_bytes_read > 0);
  CHECK(st.table_bytes_written == st.flush_bytes_written + st.compaction_bytes_written);
  CHECK(st.table_bytes_read > 0);
  CHECK(st.block_cache_misses > 0);
  CHECK(st.block_cache_hits >= 40);
  CHECK(st.block_cache_usage_bytes > 0);
  CHECK(st.table_cache_hits > 0);
  CHECK(st.open_table_files == st.table_files);  // all fit under the default limit
  CHECK(st.stalls == 0);
  CHECK(st.level_files.size() == options.max_levels);
}

TEST_CASE("options: max_open_files and the rate limit are validated") {
  test::TempDir dir;
  Options bad = test::small_options();
  bad.max_open_files = 3;
  auto db = DB::open(bad, dir.path());
  REQUIRE(!db.ok());
  CHECK(db.status().code() == StatusCode::kInvalidArgument);
  CHECK(db.status().message().find("max_open_files") != std::string::npos);
  bad.max_open_files = (1u << 20) + 1;
  CHECK(DB::open(bad, dir.path()).status().code() == StatusCode::kInvalidArgument);
  bad = test::small_options();
  bad.compaction_rate_limit_bytes_per_sec = (uint64_t{1} << 50) + 1;
  db = DB::open(bad, dir.path());
  REQUIRE(!db.ok());
  CHECK(db.status().message().find("compaction_rate_limit_bytes_per_sec") != std::string::npos);
}

TEST_CASE("table cache: a leased handle outlives its eviction; the LRU keeps the bound") {
  test::TempDir dir;
  for (int i = 0; i < 4; ++i) {
    auto f = open_writable_file(dir.sub(test::numbered("f", i)));
    REQUIRE(f.ok());
    REQUIRE(f.value()->append("contents").ok());
    REQUIRE(f.value()->close().ok());
  }
  TableCache cache(posix_file_system(), 2);
  auto a = cache.acquire(1, dir.sub("f0"));
  REQUIRE(a.ok());
  REQUIRE(cache.acquire(2, dir.sub("f1")).ok());
  REQUIRE(cache.acquire(3, dir.sub("f2")).ok());  // evicts 1, which `a` still holds
  CHECK(cache.cached() == 2);
  CHECK(cache.open_files() == 3);
  char scratch[8];
  auto bytes = a.value()->read(0, 8, scratch);
  REQUIRE(bytes.ok());
  CHECK(bytes.value() == "contents");
  a = Status::io_error("released");
  CHECK(cache.open_files() == 2);
  REQUIRE(cache.acquire(3, dir.sub("f2")).ok());
  CHECK(cache.hits() == 1);
  CHECK(cache.misses() == 3);
  cache.forget(3);
  CHECK(cache.cached() == 1);
  CHECK(cache.open_files() == 1);
  CHECK(!cache.acquire(9, dir.sub("missing")).ok());
}

TEST_CASE("table cache: many tables stay within max_open_files; iterators keep theirs") {
  test::TempDir dir;
  Options options = test::small_options();
  options.max_open_files = 4;
  options.target_file_bytes = 4 << 10;
  options.level1_bytes = 64 << 20;  // keep the files in L1
  auto db = test::open_db(dir.path(), options);
  fill(*db, 0, 600, 300);
  REQUIRE(db->compact_range(std::nullopt, std::nullopt).ok());
  uint64_t tables = db->statistics().table_files;
  REQUIRE(tables >= 20);

  // The WAL and LOCK are in the baseline, and the table files the cache holds right now.
  size_t baseline = open_fds() - db->statistics().open_table_files;
  std::string value;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 2000; ++i) {
    uint64_t k = rng() % 600;
    REQUIRE(db->get({}, test::numbered("key", 100000 + k), &value).ok());
    REQUIRE(open_fds() <= baseline + options.max_open_files);
  }
  Statistics st = db->statistics();
  CHECK(st.open_table_files <= options.max_open_files);
  CHECK(st.table_cache_misses > tables);  // evicted handles were reopened

  // An iterator walks every table while gets churn the cache; compaction replaces the files
  // it reads, which are deleted only once it is gone.
  auto it = db->new_iterator({});
  it->seek_to_first();
  REQUIRE(it->valid());
  fill(*db, 0, 600, 300);  // overwrite everything
  REQUIRE(db->compact_range(std::nullopt, std::nullopt).ok());
  size_t files_with_iterator = count_tables(dir.path());
  uint64_t seen = 0;
  for (; it->valid(); it->next()) {
    REQUIRE(db->get({}, it->key(), &value).ok());
    ++seen;
  }
  REQUIRE(it->status().ok());
  CHECK(seen == 600);
  it.reset();
  CHECK(count_tables(dir.path()) < files_with_iterator);
  CHECK(count_tables(dir.path()) == db->statistics().table_files);
}

TEST_CASE("rate limiter: token bucket accounting with an injected clock") {
  uint64_t now = 1000000;
  RateLimiter limiter(1000, [&] { return now; });  // 1000 B/s, 100 B of burst
  CHECK(limiter.burst_bytes() == 100);
  CHECK(limiter.take(60, now) == 0);  // a new bucket starts full
  CHECK(limiter.take(40, now) == 0);
  CHECK(limiter.take(100, now) == 100000);  // 100 B of debt: 100 ms
  now += 100000;
  CHECK(limiter.take(10, now) == 10000);  // the debt was paid, the bucket is empty
  now += 10 * 1000000;
  CHECK(limiter.take(100, now) == 0);  // a long pause refills only the burst
  CHECK(limiter.take(1, now) == 1000);
  // Fractions of a byte per microsecond are not lost: 1 B at 1000 B/s is 1000 us.
  now += 500;
  CHECK(limiter.take(0, now) == 500);
  // Over a long run the rate is exact: what was let through is the rate times the time.
  uint64_t start = now;
  uint64_t bytes = 0;
  for (int i = 0; i < 1000; ++i) {
    now += limiter.take(37, now);
    bytes += 37;
  }
  uint64_t elapsed = now - start;
  CHECK(elapsed >= (bytes - 1) * 1000 - 1000);
  CHECK(elapsed <= bytes * 1000 + 1000);
}

TEST_CASE("rate limiter: close() wakes a waiter and lifts the limit") {
  RateLimiter limiter(1);  // 1 B/s: a 1 MB request would wait for days
  std::promise<uint64_t> waited;
  std::thread waiter([&] { waited.set_value(limiter.request(1 << 20)); });
  limiter.close();
  uint64_t micros = waited.get_future().get();
  waiter.join();
  CHECK(micros < (uint64_t{1} << 20) * 1000000);
  CHECK(limiter.request(1 << 20) == 0);
}

TEST_CASE("rate limit: close() does not wait for a paced compaction") {
  test::TempDir dir;
  Options options = test::small_options();
  options.compaction_rate_limit_bytes_per_sec = 1;  // compactions would take hours
  options.l0_compaction_trigger = 2;
  {
    auto db = test::open_db(dir.path(), options);
    fill(*db, 0, 100, 200);
    REQUIRE(db->flush().ok());
    fill(*db, 100, 100, 200);
    REQUIRE(db->flush().ok());  // L0 at the trigger: a compaction starts
    REQUIRE(db->close().ok());
  }
  auto db = test::open_db(dir.path(), options);
  CHECK(test::scan(*db).size() == 200);
}

// Waits (bounded) until a writer is counted as stalled.
void await_stall(DB& db, uint64_t stalls) {
  for (int i = 0; i < 100000000 && db.statistics().stalls < stalls; ++i) {  // bounded-poll
    std::this_thread::yield();
  }
  REQUIRE(db.statistics().stalls >= stalls);
}

TEST_CASE("stalls: L0 at its stop trigger stops writers, counted, until compaction resumes") {
  test::TempDir dir;
  Options options = test::small_options();
  options.l0_compaction_trigger = 2;
  options.l0_slowdown_writes_trigger = 4;  // at the stop trigger: no slowdown phase
  options.l0_stop_writes_trigger = 4;
  auto db = test::open_db(dir.path(), options);
  REQUIRE(db->pause_compactions().ok());
  for (uint64_t i = 0; i < 4; ++i) {
    fill(*db, i * 10, 10, 100);
    REQUIRE(db->flush().ok());
  }
  CHECK(db->statistics().l0_files == 4);
  CHECK(db->wait_for_background_work().code() == StatusCode::kBusy);
  CHECK(db->compact_range(std::nullopt, std::nullopt).code() == StatusCode::kBusy);
  CHECK(db->statistics().stalls == 0);

  auto writer = std::async(std::launch::async, [&] { return db->put({}, "late", "write"); });
  await_stall(*db, 1);
  REQUIRE(db->resume_compactions().ok());
  REQUIRE(writer.get().ok());
  Statistics st = db->statistics();
  CHECK(st.stalls >= 1);
  CHECK(st.stall_micros > 0);
  CHECK(st.compactions >= 1);
  CHECK(test::get_or(*db, "late") == "write");
}

TEST_CASE("stalls: past the slowdown trigger each write is delayed once, and counted") {
  test::TempDir dir;
  Options options = test::small_options();
  options.l0_compaction_trigger = 2;
  options.l0_slowdown_writes_trigger = 3;
  options.l0_stop_writes_trigger = 8;
  auto db = test::open_db(dir.path(), options);
  REQUIRE(db->pause_compactions().ok());
  for (uint64_t i = 0; i < 2; ++i) {
    fill(*db, i * 10, 10, 100);
    REQUIRE(db->flush().ok());
  }
  fill(*db, 100, 5, 100);
  CHECK(db->statistics().slowdowns == 0);
  REQUIRE(db->flush().ok());
  REQUIRE(db->statistics().l0_files == 3);
  fill(*db, 200, 5, 100);
  Statistics st = db->statistics();
  CHECK(st.slowdowns == 5);
  CHECK(st.stalls == 0);
  REQUIRE(db->resume_compactions().ok());
  REQUIRE(db->wait_for_background_work().ok());
  CHECK(db->statistics().l0_files < 3);
}

TEST_CASE("stalls: close() ends a pause and releases a stalled writer") {
  test::TempDir dir;
  Options options = test::small_options();
  options.l0_compaction_trigger = 1;
  options.l0_slowdown_writes_trigger = 2;
  options.l0_stop_writes_trigger = 2;
  auto db = test::open_db(dir.path(), options);
  REQUIRE(db->pause_compactions().ok());
  for (uint64_t i = 0; i < 2; ++i) {
    fill(*db, i * 10, 10, 100);
    REQUIRE(db->flush().ok());
  }
  auto writer = std::async(std::launch::async, [&] { return db->put({}, "late", "write"); });
  await_stall(*db, 1);
  REQUIRE(db->close().ok());
  CHECK(writer.get().ok());  // queued before close(): it completes
  db = test::open_db(dir.path(), options);
  CHECK(test::get_or(*db, "late") == "write");
}

}  // namespace
}  // namespace weaseldb::storage
