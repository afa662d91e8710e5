// DB: the public API end to end on real directories: reads and writes, batches, explicit
// sequences and history, iterators and bounds, flushes, recovery, and typed errors.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "db_test_util.hpp"

namespace weaseldb::storage {
namespace {

using test::get_or;
using test::open_db;
using test::scan;
using test::scan_backward;

TEST_CASE("db: put, get, del, delete_range and the empty key") {
  test::TempDir dir;
  auto db = open_db(dir.sub("db"), test::small_options());
  WriteOptions w;
  REQUIRE(db->put(w, "a", "1").ok());
  REQUIRE(db->put(w, "", "empty").ok());
  REQUIRE(db->put(w, "b", "2").ok());
  REQUIRE(db->put(w, "c", "3").ok());
  REQUIRE(db->put(w, "d", "4").ok());
  CHECK(get_or(*db, "a") == "1");
  CHECK(get_or(*db, "") == "empty");
  REQUIRE(db->del(w, "a").ok());
  CHECK(get_or(*db, "a") == "<none>");
  REQUIRE(db->delete_range(w, "b", "d").ok());
  CHECK(get_or(*db, "b") == "<none>");
  CHECK(get_or(*db, "c") == "<none>");
  CHECK(get_or(*db, "d") == "4");
  REQUIRE(db->put(w, "c", "new").ok());  // written after the range delete: visible
  CHECK(get_or(*db, "c") == "new");
  CHECK(scan(*db) == test::Model{{"", "empty"}, {"c", "new"}, {"d", "4"}});
  CHECK(db->latest_sequence() == 8);
  CHECK(db->delete_range(w, "x", "x").code() == StatusCode::kInvalidArgument);
  CHECK(db->delete_range(w, "y", "x").code() == StatusCode::kInvalidArgument);
  CHECK(db->latest_sequence() == 8);  // refused writes consume nothing
  REQUIRE(db->close().ok());
}

TEST_CASE("db: a batch applies in order, atomically, at one sequence") {
  test::TempDir dir;
  auto db = open_db(dir.sub("db"), test::small_options());
  WriteOptions w;
  REQUIRE(db->put(w, "k2", "old").ok());
  WriteBatch batch;
  batch.put("k1", "first");
  batch.put("k1", "second");       // later wins
  batch.put("k3", "gone");
  batch.delete_range("k2", "k4");  // removes k2 (older) and k3 (earlier in the batch)
  batch.put("k3", "back");         // after the range delete: survives it
  batch.del("k5");
  batch.put("k5", "five");
  batch.delete_range("k2", "k3");  // same begin as the earlier one: merged, wider wins
  REQUIRE(db->write(w, batch).ok());
  CHECK(db->latest_sequence() == 2);
  CHECK(scan(*db) == test::Model{{"k1", "second"}, {"k3", "back"}, {"k5", "five"}});
  REQUIRE(db->flush().ok());  // the same answers from a table
  CHECK(scan(*db) == test::Model{{"k1", "second"}, {"k3", "back"}, {"k5", "five"}});
  CHECK(get_or(*db, "k2") == "<none>");

  WriteBatch empty;
  REQUIRE(db->write(w, empty).ok());
  CHECK(db->latest_sequence() == 3);  // an empty write still takes a sequence
}

TEST_CASE("db: explicit sequences, snapshots and reads as of a sequence") {
  test::TempDir dir;
  auto db = open_db(dir.sub("db"), test::small_options());
  REQUIRE(db->set_history_floor(0).ok());
  WriteOptions at;
  at.sequence = 100;
  REQUIRE(db->put(at, "key", "v100").ok());
  at.sequence = 250;
  REQUIRE(db->put(at, "key", "v250").ok());
  at.sequence = 250;
  CHECK(db->put(at, "key", "again").code() == StatusCode::kInvalidArgument);
  at.sequence = 300;
  REQUIRE(db->delete_range(at, "a", "z").ok());
  CHECK(db->latest_sequence() == 300);
  REQUIRE(db->put({}, "key", "v301").ok());  // no explicit sequence: the next one
  CHECK(db->latest_sequence() == 301);

  auto as_of = [&](SequenceNumber s) {
    ReadOptions r;
    r.sequence = s;
    return get_or(*db, "key", r);
  };
  CHECK(as_of(99) == "<none>");
  CHECK(as_of(100) == "v100");
  CHECK(as_of(249) == "v100");
  CHECK(as_of(250) == "v250");
  CHECK(as_of(300) == "<none>");
  CHECK(as_of(301) == "v301");
  ReadOptions future;
  future.sequence = 302;
  std::string value;
  CHECK(db->get(future, "key", &value).code() == StatusCode::kInvalidArgument);

  auto snap = db->snapshot();
  CHECK(snap->sequence() == 301);
  REQUIRE(db->set_history_floor(290).ok());
  CHECK(db->history_floor() == 290);
  CHECK(db->set_history_floor(10).code() == StatusCode::kInvalidArgument);
  ReadOptions old;
  old.sequence = 250;
  CHECK(db->get(old, "key", &value).code() == StatusCode::kInvalidArgument);
  REQUIRE(db->put({}, "key", "v302").ok());
  ReadOptions at_snap;
  at_snap.snapshot = snap;
  CHECK(get_or(*db, "key", at_snap) == "v301");
  REQUIRE(db->flush().ok());
  CHECK(get_or(*db, "key", at_snap) == "v301");
  CHECK(scan(*db, at_snap) == test::Model{{"key", "v301"}});
  CHECK(get_or(*db, "key") == "v302");
}

TEST_CASE("db: iterators seek, step both ways and respect bounds") {
  test::TempDir dir;
  auto db = open_db(dir.sub("db"), test::small_options());
  for (char c = 'a'; c <= 'j'; ++c) REQUIRE(db->put({}, std::string(1, c), "v").ok());
  REQUIRE(db->flush().ok());
  REQUIRE(db->del({}, "e").ok());
  REQUIRE(db->put({}, "b", "v2").ok());
  auto it = db->new_iterator({});
  it->seek("d");
  REQUIRE(it->valid());
  CHECK(it->key() == "d");
  it->next();
  CHECK(it->key() == "f");  // e is deleted
  it->prev();
  CHECK(it->key() == "d");
  it->prev();
  CHECK(it->key() == "c");
  it->seek_for_prev("e");
  CHECK(it->key() == "d");
  it->seek_for_prev("b");
  CHECK(it->key() == "b");
  CHECK(it->value() == "v2");
  it->seek("zz");
  CHECK_FALSE(it->valid());
  it->seek_for_prev("0");
  CHECK_FALSE(it->valid());
  it.reset();

  ReadOptions bounded;
  bounded.lower_bound.emplace("c");
  bounded.upper_bound.emplace("g");
  test::Model expected{{"c", "v"}, {"d", "v"}, {"f", "v"}};
  CHECK(scan(*db, bounded) == expected);
  CHECK(scan_backward(*db, bounded) == expected);
  auto b = db->new_iterator(bounded);
  b->seek("a");
  CHECK(b->key() == "c");
  b->seek_for_prev("z");
  CHECK(b->key() == "f");
  b->seek("g");
  CHECK_FALSE(b->valid());
  CHECK(b->status().ok());
}

TEST_CASE("db: data survives close and reopen, from the WAL and from tables") {
  test::TempDir dir;
  Options options = test::small_options();
  test::Model model;
  {
    auto db = open_db(dir.sub("db"), options);
    for (int i = 0; i < 3000; ++i) {
      std::string key = test::numbered("key", i % 700);
      std::string value(50 + i % 100, static_cast<char>('a' + i % 26));
      REQUIRE(db->put({}, key, value).ok());
      model[key] = value;
    }
    REQUIRE(db->delete_range({}, "key1", "key2").ok());
    for (auto it = model.begin(); it != model.end();) {
      it = it->first >= "key1" && it->first < "key2" ? model.erase(it) : std::next(it);
    }
    CHECK(db->statistics().flushes > 0);  // memtables sealed and flushed along the way
    REQUIRE(db->close().ok());
  }
  auto db = open_db(dir.sub("db"), options);
  CHECK(db->latest_sequence() == 3001);
  CHECK(scan(*db) == model);
  CHECK(scan_backward(*db) == model);
  REQUIRE(db->put({}, "after", "reopen").ok());
  CHECK(db->latest_sequence() == 3002);
}

std::string newest_wal(const std::string& path) {
  std::string newest;
  for (const auto& e : std::filesystem::directory_iterator(path)) {
    std::string name = e.path().filename();
    if (name.size() > 4 && name.substr(name.size() - 4) == ".wal" && name > newest) newest = name;
  }
  REQUIRE(!newest.empty());
  return path + "/" + newest;
}

TEST_CASE("db: a torn WAL tail is dropped; a damaged WAL middle fails the open") {
  test::TempDir dir;
  Options options = test::small_options();
  options.memtable_bytes = size_t{1} << 20;  // everything stays in one WAL
  {
    auto db = open_db(dir.sub("db"), options);
    for (int i = 0; i < 10; ++i) REQUIRE(db->put({}, test::numbered("k", i), "value").ok());
    REQUIRE(db->close().ok());
  }
  std::string wal = newest_wal(dir.sub("db"));
  auto size = std::filesystem::file_size(wal);
  std::filesystem::resize_file(wal, size - 3);  // the crash cut the last write short
  {
    auto db = open_db(dir.sub("db"), options);
    CHECK(get_or(*db, "k8") == "value");
    CHECK(get_or(*db, "k9") == "<none>");
    CHECK(db->latest_sequence() == 9);
    for (int i = 0; i < 10; ++i) REQUIRE(db->put({}, test::numbered("m", i), "value").ok());
    REQUIRE(db->close().ok());
  }
  wal = newest_wal(dir.sub("db"));
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x7f');
  }
  auto db = DB::open(options, dir.sub("db"));
  CHECK(db.status().code() == StatusCode::kCorruption);
}

TEST_CASE("db: typed errors for misuse") {
  test::TempDir dir;
  Options options = test::small_options();
  Options missing = options;
  missing.create_if_missing = false;
  CHECK(DB::open(missing, dir.sub("none")).status().code() == StatusCode::kNotFound);
  Options bad = options;
  bad.memtable_bytes = 10;
  CHECK(DB::open(bad, dir.sub("bad")).status().code() == StatusCode::kInvalidArgument);
  bad = options;
  bad.l0_stop_writes_trigger = bad.l0_compaction_trigger;
  CHECK(DB::open(bad, dir.sub("bad")).status().code() == StatusCode::kInvalidArgument);
  bad = options;
  bad.encryption_key_file = "/nonexistent";
  CHECK(DB::open(bad, dir.sub("bad")).status().code() == StatusCode::kInvalidArgument);

  auto db = open_db(dir.sub("db"), options);
  CHECK(DB::open(options, dir.sub("db")).status().code() == StatusCode::kBusy);
  Options exists = options;
  exists.error_if_exists = true;
  CHECK(DB::open(exists, dir.sub("db")).status().code() == StatusCode::kBusy);
  CHECK(db->compact_range("b", "a").code() == StatusCode::kInvalidArgument);
  std::string long_key(kMaxKeyBytes + 1, 'k');
  Status refused = db->put({}, long_key, "v");
  CHECK(refused.code() == StatusCode::kInvalidArgument);
  // put() and del() check their one operation before building the batch: the same refusal
  // as write() of that batch.
  WriteBatch batch;
  batch.put(long_key, "v");
  CHECK(db->write({}, batch).message() == refused.message());
  CHECK(db->del({}, long_key).message() == refused.message());

  auto it = db->new_iterator({});
  CHECK(db->close().code() == StatusCode::kBusy);
  it.reset();
  REQUIRE(db->close().ok());
  REQUIRE(db->close().ok());  // idempotent
  CHECK_FALSE(db->put({}, "k", "v").ok());
  std::string value;
  CHECK_FALSE(db->get({}, "k", &value).ok());
  CHECK_FALSE(db->new_iterator({})->status().ok());

  CHECK(DB::open(exists, dir.sub("db")).status().code() == StatusCode::kInvalidArgument);
  auto again = open_db(dir.sub("db"), options);  // the lock was released
  REQUIRE(again->close().ok());
}

TEST_CASE("db: compaction keeps L0 short, drops what no reader can see, keeps snapshots") {
  test::TempDir dir;
  Options options = test::small_options();
  options.l0_compaction_trigger = 2;
  options.l0_stop_writes_trigger = 4;
  options.target_file_bytes = 32 << 10;  // several L1 files
  options.compression = Compression::kNone;  // sizes below are about raw bytes
  auto db = open_db(dir.sub("db"), options);
  test::Model model;
  std::string big(200, 'x');
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 400; ++i) {
      std::string key = test::numbered("key", i);
      std::string value = big + test::numbered("r", round);
      REQUIRE(db->put({}, key, value).ok());
      model[key] = value;
    }
  }
  auto snap = db->snapshot();
  test::Model at_snap = model;
  REQUIRE(db->delete_range({}, "key1", "key3").ok());
  for (auto it = model.begin(); it != model.end();) {
    it = it->first >= "key1" && it->first < "key3" ? model.erase(it) : std::next(it);
  }
  REQUIRE(db->del({}, "key5").ok());
  model.erase("key5");
  REQUIRE(db->compact_range(std::nullopt, std::nullopt).ok());
  Statistics st = db->statistics();
  CHECK(st.compactions > 0);
  CHECK(st.l0_files == 0);
  CHECK(st.table_files > 1);
  CHECK(scan(*db) == model);
  CHECK(scan_backward(*db) == model);
  ReadOptions r;
  r.snapshot = snap;
  CHECK(scan(*db, r) == at_snap);  // the snapshot pinned the overwritten versions
  CHECK(get_or(*db, "key10", r) == at_snap["key10"]);

  snap.reset();  // now nothing needs the old versions: they and the tombstones go
  uint64_t files_before = st.table_files;
  REQUIRE(db->compact_range(std::nullopt, std::nullopt).ok());
  CHECK(scan(*db) == model);
  CHECK(db->statistics().table_files <= files_before);
  uint64_t live_bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.sub("db"))) {
    if (e.path().extension() == ".sst") live_bytes += std::filesystem::file_size(e.path());
  }
  // 10 rounds of versions of 400 keys, about 1/4 deleted: what is left is about one round.
  CHECK(live_bytes < 400 * 260);
  CHECK(db->set_history_floor(1).code() == StatusCode::kInvalidArgument);
  REQUIRE(db->close().ok());

  auto reopened = open_db(dir.sub("db"), options);
  CHECK(scan(*reopened) == model);
  Options too_old = options;
  too_old.history_floor = 1;
  REQUIRE(reopened->close().ok());
  CHECK(DB::open(too_old, dir.sub("db")).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("db: a manual compaction apart from L0's range keeps L1 disjoint") {
  test::TempDir dir;
  Options options = test::small_options();
  options.l0_compaction_trigger = 100;  // only manual compactions
  options.l0_stop_writes_trigger = 200;
  options.target_file_bytes = 8 << 10;
  options.compression = Compression::kNone;
  auto db = open_db(dir.sub("db"), options);
  test::Model model;
  for (char prefix = 'a'; prefix <= 'z'; ++prefix) {
    for (int i = 0; i < 60; ++i) {
      char prefixed[3] = {prefix, '/', '\0'};
      std::string key = test::numbered(prefixed, i);
      REQUIRE(db->put({}, key, std::string(100, prefix)).ok());
      model[key] = std::string(100, prefix);
    }
  }
  REQUIRE(db->compact_range(std::nullopt, std::nullopt).ok());
  uint64_t l1_files = db->statistics().table_files;
  CHECK(l1_files > 10);
  // An L0 file at the top of the key space, and a manual range at the bottom: the L1 files
  // in between must join the compaction, or its outputs would straddle them.
  REQUIRE(db->put({}, "y/new", "y").ok());
  REQUIRE(db->delete_range({}, "x/", "x/3").ok());
  model.emplace("y/new", "y");
  for (auto it = model.begin(); it != model.end();) {
    it = it->first >= "x/" && it->first < "x/3" ? model.erase(it) : std::next(it);
  }
  REQUIRE(db->flush().ok());
  REQUIRE(db->compact_range("b", "c").ok());
  CHECK(scan(*db) == model);
  CHECK(scan_backward(*db) == model);
  CHECK(get_or(*db, "m/7") == std::string(100, 'm'));
  CHECK(get_or(*db, "x/25") == "<none>");
  REQUIRE(db->close().ok());
  auto reopened = open_db(dir.sub("db"), options);  // open checks L1 is disjoint
  CHECK(scan(*reopened) == model);
}

TEST_CASE("db: levels fill top down within their size targets") {
  test::TempDir dir;
  Options options = test::small_options();
  options.compression = Compression::kNone;
  options.l0_compaction_trigger = 2;
  options.l0_stop_writes_trigger = 6;
  options.target_file_bytes = 16 << 10;
  options.level1_bytes = 64 << 10;
  options.level_size_multiplier = 2;
  options.max_levels = 5;
  auto db = open_db(dir.sub("db"), options);
  test::Model model;
  std::mt19937_64 rng(11);
  for (int i = 0; i < 6000; ++i) {
    std::string key = test::numbered("key", rng() % 3000);
    std::string value = test::random_bytes(rng, 150);
    REQUIRE(db->put({}, key, value).ok());
    model[key] = value;
    if (i % 700 == 0) {
      std::string b = test::numbered("key", rng() % 3000), e = b + "5";
      REQUIRE(db->delete_range({}, b, e).ok());
      model.erase(model.lower_bound(b), model.lower_bound(e));
    }
  }
  REQUIRE(db->flush().ok());
  REQUIRE(db->wait_for_background_work().ok());
  Statistics st = db->statistics();
  REQUIRE(st.level_files.size() == 5);
  CHECK(st.level_files[0] < options.l0_compaction_trigger);
  uint64_t target = options.level1_bytes;
  for (size_t level = 1; level + 1 < 5; ++level, target *= 2) {
    INFO("level " << level);
    CHECK(st.level_bytes[level] < target);  // every level within its target once idle
  }
  CHECK(st.level_files[2] + st.level_files[3] + st.level_files[4] > 0);  // it went deep
  CHECK(scan(*db) == model);
  CHECK(scan_backward(*db) == model);
  for (int i = 0; i < 300; ++i) {
    std::string key = test::numbered("key", rng() % 3000);
    auto m = model.find(key);
    REQUIRE(get_or(*db, key) == (m == model.end() ? "<none>" : m->second));
  }
  REQUIRE(db->compact_range(std::nullopt, std::nullopt).ok());
  st = db->statistics();
  CHECK(st.level_files[0] + st.level_files[1] + st.level_files[2] + st.level_files[3] == 0);
  CHECK(scan(*db) == model);
  REQUIRE(db->close().ok());
  auto reopened = open_db(dir.sub("db"), options);
  CHECK(scan(*reopened) == model);
}

}  // namespace
}  // namespace weaseldb::storage
