// Fault injection through Options::file_system (fault_fs.hpp).
//
// Crashes: a random workload (batches of puts, deletes and range deletes, each with its own
// durability, plus flushes and manual compactions) runs until the file system "loses power"
// at a random mutating operation; the database reopened from the crash image must hold
// exactly the first k writes for some k between the last write acknowledged as durable and
// the last write attempted: nothing acknowledged-and-synced lost, nothing torn, no batch half
// applied, no reordering.
// Errors: an injected write or sync failure surfaces as a typed error (io_error or
// resource_exhausted), the database then refuses writes, and reopened it holds every
// acknowledged write (the process did not crash) and possibly the failed one.

#include <doctest/doctest.h>

#include <algorithm>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "db_test_util.hpp"
#include "fault_fs.hpp"
#include "storage/internal_key.hpp"
#include "storage/manifest.hpp"

namespace weaseldb::storage {
namespace {

using test::FaultFileSystem;

struct Op {
  WriteBatch batch;
  Durability durability = Durability::kNone;
  bool flush_after = false;
  bool compact_after = false;
};

std::string key_of(uint64_t i) { return test::numbered("k", 10000 + i % 300); }

std::vector<Op> make_workload(uint64_t seed, size_t count) {
  std::mt19937_64 rng(seed);
  std::vector<Op> ops(count);
  for (Op& op : ops) {
    size_t parts = 1 + rng() % 3;
    for (size_t p = 0; p < parts; ++p) {
      uint64_t k = rng();
      switch (rng() % 8) {
        case 0: op.batch.del(key_of(k)); break;
        case 1: {
          uint64_t begin = k % 295;
          op.batch.delete_range(key_of(begin), key_of(begin + 1 + rng() % 5));
          break;
        }
        default: op.batch.put(key_of(k), test::compressible_bytes(rng, 100 + rng() % 1400));
      }
    }
    op.durability = static_cast<Durability>(rng() % 3);
    op.flush_after = rng() % 60 == 0;
    op.compact_after = rng() % 150 == 0;
  }
  return ops;
}

// The state after the first `k` writes.
test::Model replay(const std::vector<Op>& ops, uint64_t k) {
  struct Apply : WriteBatch::Handler {
    test::Model* m;
    void put(std::string_view key, std::string_view value) override {
      (*m)[std::string(key)] = std::string(value);
    }
    void del(std::string_view key) override { m->erase(std::string(key)); }
    void delete_range(std::string_view begin, std::string_view end) override {
      m->erase(m->lower_bound(std::string(begin)), m->lower_bound(std::string(end)));
    }
  };
  test::Model model;
  Apply apply;
  apply.m = &model;
  for (uint64_t i = 0; i < k; ++i) REQUIRE(ops[i].batch.iterate(apply).ok());
  return model;
}

Options fault_options(std::shared_ptr<FaultFileSystem> fs) {
  Options o = test::small_options();
  o.file_system = std::move(fs);
  o.target_file_bytes = 16 << 10;
  o.level1_bytes = 64 << 10;
  o.l0_compaction_trigger = 2;
  o.l0_slowdown_writes_trigger = 3;
  o.l0_stop_writes_trigger = 6;
  o.max_open_files = 4;
  o.block_cache_bytes = 32 << 10;
  return o;
}

constexpr const char* kPath = "/db";

struct Outcome {
  uint64_t attempted = 0;  // writes tried (the last may have failed)
  uint64_t acked = 0;      // writes that returned ok
  uint64_t durable = 0;    // writes acknowledged as synced (their own sync or a flush)
  Status error;            // the first failure
};

Outcome run(DB& db, const std::vector<Op>& ops) {
  Outcome out;
  for (const Op& op : ops) {
    ++out.attempted;
    WriteOptions w;
    w.durability = op.durability;
    Status s = db.write(w, op.batch);
    if (s.ok()) {
      out.acked = out.attempted;
      if (op.durability != Durability::kNone) out.durable = out.acked;
      if (op.flush_after) s = db.flush();
      if (s.ok() && op.flush_after) out.durable = out.acked;
      if (s.ok() && op.compact_after) s = db.compact_range(std::nullopt, std::nullopt);
    }
    if (!s.ok()) {
      out.error = s;
      return out;
    }
  }
  return out;
}

// Opens `fs` and checks it holds exactly the first k writes, min_k <= k <= max_k.
uint64_t check_prefix(std::shared_ptr<FaultFileSystem> fs, const std::vector<Op>& ops,
                      uint64_t min_k, uint64_t max_k) {
  auto db = DB::open(fault_options(fs), kPath);
  REQUIRE_MESSAGE(db.ok(), db.status().to_string());
  uint64_t k = db.value()->latest_sequence();
  CHECK(k >= min_k);
  CHECK(k <= max_k);
  REQUIRE(k <= ops.size());
  test::Model expected = replay(ops, k);
  CHECK(test::scan(*db.value()) == expected);
  CHECK(test::scan_backward(*db.value()) == expected);
  for (uint64_t i = 0; i < 300; i += 7) {
    auto found = expected.find(key_of(i));
    CHECK(test::get_or(*db.value(), key_of(i)) ==
          (found == expected.end() ? "<none>" : found->second));
  }
  REQUIRE(db.value()->close().ok());
  return k;
}

TEST_CASE("faults: a crash at any operation keeps every synced write, whole and in order") {
  constexpr size_t kWrites = 400;
  // How many mutating operations the workload makes, to spread the crash points over it.
  uint64_t budget = 0;
  {
    auto fs = std::make_shared<FaultFileSystem>();
    REQUIRE(fs->create_dir_if_missing(kPath).ok());
    auto db = test::open_db(kPath, fault_options(fs));
    Outcome out = run(*db, make_workload(0, kWrites));
    REQUIRE_MESSAGE(out.error.ok(), out.error.to_string());
    REQUIRE(db->close().ok());
    budget = fs->mutating_ops();
    REQUIRE(budget > kWrites);
  }
  constexpr uint64_t kSeeds = 60;
  uint64_t crashed_mid_run = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    std::vector<Op> ops = make_workload(seed, kWrites);
    auto fs = std::make_shared<FaultFileSystem>();
    REQUIRE(fs->create_dir_if_missing(kPath).ok());
    bool torn = seed % 2 == 0;
    fs->crash_after(rng() % budget, seed, torn);
    Outcome out;
    {
      auto db = DB::open(fault_options(fs), kPath);
      if (db.ok()) out = run(*db.value(), ops);
      if (!fs->crashed()) {
        REQUIRE_MESSAGE(out.error.ok(), out.error.to_string());
        fs->crash_now(seed, torn);
      } else {
        ++crashed_mid_run;
        if (!out.error.ok()) CHECK(out.error.code() == StatusCode::kIoError);
      }
    }  // the DB goes down with its file system
    std::shared_ptr<FaultFileSystem> image = fs->crash_image();
    uint64_t k = check_prefix(image, ops, out.durable, out.attempted);
    // Recovery is repeatable: a second open finds the same state.
    CHECK(check_prefix(image, ops, k, k) == k);
  }
  CHECK(crashed_mid_run > kSeeds / 2);  // most crash points fall inside the run
}

TEST_CASE("faults: injected write and sync errors are typed and leave the database whole") {
  constexpr size_t kWrites = 300;
  constexpr uint64_t kSeeds = 60;
  uint64_t failed_runs = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed * 7919);
    std::vector<Op> ops = make_workload(seed + 1000, kWrites);
    auto fs = std::make_shared<FaultFileSystem>();
    REQUIRE(fs->create_dir_if_missing(kPath).ok());
    auto op = rng() % 2 == 0 ? FaultFileSystem::Op::kWrite : FaultFileSystem::Op::kSync;
    StatusCode code = rng() % 2 == 0 ? StatusCode::kIoError : StatusCode::kResourceExhausted;
    bool sticky = rng() % 2 == 0;
    uint64_t n = rng() % (op == FaultFileSystem::Op::kWrite ? 3000 : 400);
    fs->fail_after(op, n, code, sticky);
    Outcome out;
    {
      auto db = DB::open(fault_options(fs), kPath);
      if (!db.ok()) {
        CHECK(db.status().code() == code);
      } else {
        out = run(*db.value(), ops);
        if (!out.error.ok()) {
          CHECK_MESSAGE(out.error.code() == code, out.error.to_string());
          // The engine stops at the first failure: it cannot know the state of the file.
          CHECK(!db.value()->put({}, "after", "error").ok());
        }
        fs->heal();
        (void)db.value()->close();  // may report the failure again
      }
    }
    if (fs->failures() > 0) ++failed_runs;
    // No machine crash: every acknowledged write is there, the failed one maybe.
    check_prefix(fs, ops, out.acked, out.attempted);
  }
  CHECK(failed_runs > kSeeds / 2);
}

TEST_CASE("faults: a flushed table whose sync fails keeps serving reads; its WAL replays") {
  // A flush hands the memtable's reads to its table before syncing it (the memtable's memory
  // goes back sooner): a failed sync must leave every write readable, the DB stopped, and
  // the WAL in place for the next open.
  auto fs = std::make_shared<FaultFileSystem>();
  REQUIRE(fs->create_dir_if_missing(kPath).ok());
  auto db = DB::open(fault_options(fs), kPath);
  REQUIRE(db.ok());
  std::mt19937_64 rng(11);
  std::map<std::string, std::string> written;
  for (uint64_t i = 0; i < 40; ++i) {
    std::string value = test::random_bytes(rng, 200);
    REQUIRE(db.value()->put({}, key_of(i), value).ok());
    written[key_of(i)] = value;
  }
  // The table's sync fails (the sealed WAL's and the directory's, for the new WAL, may run
  // before or after it: the flush starts as soon as the memtable is sealed).
  fs->fail_after(FaultFileSystem::Op::kSync, 0, StatusCode::kIoError, false, ".sst");
  Status flushed = db.value()->flush();
  CHECK(flushed.code() == StatusCode::kIoError);
  REQUIRE(fs->failures() == 1);
  REQUIRE_MESSAGE(flushed.message().find(".sst") != std::string::npos, flushed.to_string());
  Statistics st = db.value()->statistics();
  CHECK(st.l0_files == 1);              // the table was published...
  CHECK(st.immutable_memtables == 0);   // ...and the memtable let go
  CHECK(st.flushes == 0);               // but the flush did not complete
  for (const auto& [key, value] : written) CHECK(test::get_or(*db.value(), key) == value);
  CHECK(db.value()->statistics().table_bytes_read > 0);  // from the table
  CHECK(!db.value()->put({}, "after", "error").ok());
  fs->heal();
  (void)db.value()->close();
  db.value().reset();
  auto reopened = DB::open(fault_options(fs), kPath);
  REQUIRE(reopened.ok());
  for (const auto& [key, value] : written) CHECK(test::get_or(*reopened.value(), key) == value);
  REQUIRE(reopened.value()->close().ok());
}

TEST_CASE("faults: a damaged byte anywhere in the manifest is reported as corruption") {
  ManifestState state;
  state.next_file_number = 42;
  state.last_sequence = 1234;
  state.log_number = 40;
  state.compaction_floor = 7;
  for (uint64_t n = 1; n <= 3; ++n) {
    TableMeta t;
    t.level = static_cast<uint32_t>(n - 1);
    t.number = n * 10;
    t.bytes = n * 4096;
    append_internal_key(&t.smallest, test::numbered("a", n), n, ValueType::kValue);
    append_internal_key(&t.largest, test::numbered("z", n), n, ValueType::kDeletion);
    state.tables.push_back(std::move(t));
  }
  auto encoded = encode_manifest(state, nullptr);
  REQUIRE(encoded.ok());
  const std::string& bytes = encoded.value();
  REQUIRE(decode_manifest(bytes, nullptr).ok());
  for (size_t offset = 0; offset < bytes.size(); ++offset) {
    for (uint8_t bit : {0x01, 0x80}) {
      std::string damaged = bytes;
      damaged[offset] = static_cast<char>(damaged[offset] ^ bit);
      INFO("byte " << offset << " bit " << int(bit));
      auto decoded = decode_manifest(damaged, nullptr);
      REQUIRE(!decoded.ok());
      CHECK(decoded.status().code() == StatusCode::kCorruption);
    }
  }
  for (size_t size = 0; size < bytes.size(); ++size) {  // torn at any length
    CHECK(decode_manifest(std::string_view(bytes).substr(0, size), nullptr).status().code() ==
          StatusCode::kCorruption);
  }
}

TEST_CASE("faults: writers stall while every memtable waits for a flush stuck on the disk") {
  auto fs = std::make_shared<FaultFileSystem>();
  REQUIRE(fs->create_dir_if_missing(kPath).ok());
  Options options = fault_options(fs);
  options.max_immutable_memtables = 1;
  auto db = test::open_db(kPath, options);
  fs->hold_creates(".sst");  // the next flush blocks creating its table
  auto writer = std::async(std::launch::async, [&] {
    std::mt19937_64 rng(3);
    for (uint64_t i = 0; i < 300; ++i) {  // ~300 KiB: more than two memtables
      Status s = db->put({}, key_of(i), test::random_bytes(rng, 1000));
      if (!s.ok()) return s;
    }
    return Status();
  });
  for (int i = 0; i < 100000000 && db->statistics().stalls == 0; ++i) {  // bounded-poll
    std::this_thread::yield();
  }
  Statistics stalled = db->statistics();
  CHECK(stalled.stalls >= 1);
  CHECK(stalled.immutable_memtables == 1);
  CHECK(stalled.flushes == 0);
  fs->release_creates();
  REQUIRE(writer.get().ok());
  REQUIRE(db->flush().ok());
  Statistics st = db->statistics();
  CHECK(st.flushes >= 2);
  CHECK(st.stall_micros > 0);
  CHECK(test::scan(*db).size() == 300);
}


// L0 at the compaction trigger (compactions paused), then the L0 compaction starts with the
// creation of its first output held; meanwhile writers seal a memtable; then the compaction
// goes on. With crash_at, the file system dies at that many mutating operations after the
// release. Returns every write made: all synced before the release; *ops_at_release says
// how many mutating operations had happened then.
test::Model flush_during_compaction(FaultFileSystem& fs, DB& db, std::optional<uint64_t> crash_at,
                                    uint64_t* ops_at_release = nullptr) {
  std::mt19937_64 rng(11);
  test::Model written;
  WriteOptions synced;
  synced.durability = Durability::kSyncEachWrite;
  auto put = [&](uint64_t i) {
    std::string key = test::numbered("k", 10000 + i);
    std::string value = test::random_bytes(rng, 1000);
    REQUIRE(db.put(synced, key, value).ok());
    written[key] = value;
  };
  REQUIRE(db.pause_compactions().ok());
  for (uint64_t i = 0; i < 80; ++i) {
    put(i * 2);
    if (i == 39 || i == 79) REQUIRE(db.flush().ok());
  }
  REQUIRE(db.statistics().l0_files == 2);
  fs.hold_creates(".sst");
  REQUIRE(db.resume_compactions().ok());
  for (int i = 0; i < 100000000 && fs.held_creates() == 0; ++i) {  // bounded-poll
    std::this_thread::yield();
  }
  REQUIRE(fs.held_creates() == 1);  // the compaction's first output
  for (uint64_t i = 0; i < 70 && db.statistics().immutable_memtables == 0; ++i) put(i * 2 + 1);
  REQUIRE(db.statistics().immutable_memtables == 1);
  if (crash_at) fs.crash_after(*crash_at, *crash_at, false);
  if (ops_at_release != nullptr) *ops_at_release = fs.mutating_ops();
  fs.release_creates();
  Status s = db.wait_for_background_work();
  if (!crash_at) REQUIRE_MESSAGE(s.ok(), s.to_string());
  return written;
}

Options mid_compaction_options(std::shared_ptr<FaultFileSystem> fs) {
  Options o = fault_options(std::move(fs));
  o.target_file_bytes = 4 << 10;  // the compaction writes many outputs
  o.level1_bytes = 16 << 20;      // and nothing goes on to L2
  return o;
}

TEST_CASE("faults: a memtable sealed during a compaction is flushed before the compaction ends") {
  auto fs = std::make_shared<FaultFileSystem>();
  REQUIRE(fs->create_dir_if_missing(kPath).ok());
  Options options = mid_compaction_options(fs);
  test::Model written;
  uint64_t ops_at_release = 0;
  uint64_t ops_at_end = 0;
  {
    auto db = test::open_db(kPath, options);
    written = flush_during_compaction(*fs, *db, std::nullopt, &ops_at_release);
    ops_at_end = fs->mutating_ops();
    Statistics st = db->statistics();
    CHECK(st.flushes == 3);
    CHECK(st.compactions == 1);
    CHECK(st.immutable_memtables == 0);
    CHECK(test::scan(*db) == written);
    // The flushed table was numbered after the compaction's first output and before its
    // later ones: it ran in the middle.
    Result<ManifestState> manifest = read_manifest(*fs, kPath, nullptr);
    REQUIRE(manifest.ok());
    std::vector<uint64_t> l0, l1;
    for (const TableMeta& t : manifest.value().tables) {
      REQUIRE(t.level <= 1);
      (t.level == 0 ? l0 : l1).push_back(t.number);
    }
    REQUIRE(l0.size() == 1);
    REQUIRE(l1.size() > 2);
    CHECK(*std::min_element(l1.begin(), l1.end()) < l0[0]);
    CHECK(*std::max_element(l1.begin(), l1.end()) > l0[0]);
    REQUIRE(db->close().ok());
  }
  {
    auto db = test::open_db(kPath, options);
    CHECK(test::scan(*db) == written);
    REQUIRE(db->close().ok());
  }

  // A crash at any operation of the compaction and the flush inside it loses nothing: the
  // reopened database holds every write (the manifest lists only files that exist).
  uint64_t budget = ops_at_end - ops_at_release;
  REQUIRE(budget > 20);
  uint64_t step = std::max<uint64_t>(1, budget / 40);
  for (uint64_t crash_at = 0; crash_at < budget; crash_at += step) {
    CAPTURE(crash_at);
    auto crashing = std::make_shared<FaultFileSystem>();
    REQUIRE(crashing->create_dir_if_missing(kPath).ok());
    test::Model expected;
    {
      auto db = test::open_db(kPath, mid_compaction_options(crashing));
      expected = flush_during_compaction(*crashing, *db, crash_at);
    }
    REQUIRE(crashing->crashed());
    auto image = crashing->crash_image();
    auto db = test::open_db(kPath, mid_compaction_options(image));
    CHECK(test::scan(*db) == expected);
    REQUIRE(db->close().ok());
  }
}

}  // namespace
}  // namespace weaseldb::storage
