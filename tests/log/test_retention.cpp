// Retention (src/log/retention.hpp) against a real LocalLogStore in a scratch directory: the
// time -> version mapping (floor_for_time), each policy's floor, the overall floor, durable
// policies, failed metadata writes, truncation passes and the background job.

#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>

#include "faulty_file_ops.hpp"
#include "log/retention.hpp"
#include "store_fixture.hpp"

namespace weasel {
namespace {

using test::append_ok;
using test::encode_batch;
using test::FaultyFileOps;
using test::open_store;
using test::OwnedTransaction;
using test::read_all;
using test::segment_names;
using test::TempDir;

constexpr int64_t kBaseMs = 1'700'000'000'000;
constexpr size_t kValueBytes = 1500;  // two batches fill a 4 KiB segment

// Appends one batch of one transaction at version latest + 1 committed at `timestamp_ms`,
// with a value big enough that every second batch starts a new segment.
void append_at(LogStore& store, int64_t timestamp_ms) {
  OwnedTransaction t;
  t.version = store.latest_version() + 1;
  t.timestamp_ms = timestamp_ms;
  t.request_id = "req-" + std::to_string(t.version);
  t.operations.push_back({LogOperation::Type::kWrite, "k", std::string(kValueBytes, 'v'), "", false});
  BatchEncoder encoder;
  append_ok(store, encode_batch(encoder, store.latest_version(), {t}));
}

// Versions 1..count, version v committed at kBaseMs + v seconds: segments hold 2 versions.
void fill_seconds(LogStore& store, int count) {
  for (int i = 0; i < count; ++i) {
    append_at(store, kBaseMs + static_cast<int64_t>(store.latest_version() + 1) * 1000);
  }
}

struct Clock {
  std::atomic<int64_t> now_ms{kBaseMs};
};

RetentionOptions options_with(Clock& clock, int64_t default_keep_seconds = 86400) {
  RetentionOptions options;
  options.default_keep_seconds = default_keep_seconds;
  options.truncate_interval_seconds = 86400;  // the background job runs only when woken
  options.max_policies = 4;
  options.now_ms = [&clock] { return clock.now_ms.load(); };
  return options;
}

std::unique_ptr<RetentionManager> open_manager(LogStore& log, RetentionOptions options) {
  auto opened = RetentionManager::open(log, std::move(options));
  REQUIRE_MESSAGE(opened.ok(), opened.status().to_string());
  return std::move(opened).value();
}

void put_ok(RetentionManager& m, std::string_view id, RetentionKind kind, uint64_t value) {
  RetentionPutResult r = m.put(id, kind, value);
  REQUIRE_MESSAGE(r.status.ok(), r.status.to_string());
}

TEST_CASE("floor_for_time: the oldest segment with a recent enough transaction, also after reopen") {
  TempDir dir;
  auto check = [](const LocalLogStore& store) {
    // Segments: versions {1,2} {3,4} {5,6} {7,8} {9,10}, version v at kBaseMs + v s.
    CHECK(store.floor_for_time(kBaseMs) == 0);
    CHECK(store.floor_for_time(kBaseMs + 2000) == 0);  // version 2 is that recent
    CHECK(store.floor_for_time(kBaseMs + 2001) == 2);
    CHECK(store.floor_for_time(kBaseMs + 4000) == 2);
    CHECK(store.floor_for_time(kBaseMs + 9500) == 8);
    CHECK(store.floor_for_time(kBaseMs + 10'000) == 8);
    CHECK(store.floor_for_time(kBaseMs + 10'001) == 10);  // nothing that recent: latest
  };
  {
    auto store = open_store(dir.path());
    fill_seconds(*store, 10);
    REQUIRE(store->segment_count() == 5);
    check(*store);
  }
  auto reopened = open_store(dir.path());  // the recovery scan learns the timestamps too
  check(*reopened);
}

TEST_CASE("floor_for_time: a clock stepping back does not hide a recent segment") {
  TempDir dir;
  auto store = open_store(dir.path());
  append_at(*store, kBaseMs + 50'000);  // segment {1,2}: its latest commit is at +50 s
  append_at(*store, kBaseMs + 1000);
  append_at(*store, kBaseMs + 2000);  // segment {3,4}
  append_at(*store, kBaseMs + 3000);
  append_at(*store, kBaseMs + 4000);  // segment {5}
  CHECK(store->floor_for_time(kBaseMs + 3500) == 0);
  CHECK(store->floor_for_time(kBaseMs + 50'001) == 5);
}

TEST_CASE("retention: each policy's floor, the lowest wins, the default applies without any") {
  TempDir dir;
  Clock clock;
  auto store = open_store(dir.path());
  fill_seconds(*store, 10);  // versions 1..10, version v at kBaseMs + v s
  clock.now_ms = kBaseMs + 20'000;
  auto m = open_manager(*store, options_with(clock, 15));  // default: the last 15 s

  CHECK(m->floor_version() == 4);  // versions >= 5 are that recent: segment {5,6}

  put_ok(*m, "cursor", RetentionKind::kAfterVersion, 7);
  CHECK(m->floor_version() == 7);  // a policy replaces the default
  put_ok(*m, "recent", RetentionKind::kKeepVersions, 5);
  CHECK(m->get("recent")->floor_version == 5);
  CHECK(m->floor_version() == 5);
  put_ok(*m, "age", RetentionKind::kKeepSeconds, 13);  // since +7 s: segment {7,8}
  CHECK(m->get("age")->floor_version == 6);
  CHECK(m->floor_version() == 5);
  put_ok(*m, "short", RetentionKind::kKeepVersions, 100);
  CHECK(m->get("short")->floor_version == 0);  // longer than the log
  CHECK(m->floor_version() == 0);
  CHECK(m->remove("short").ok());
  CHECK(m->floor_version() == 5);

  clock.now_ms = kBaseMs + 1'000'000;
  CHECK(m->get("age")->floor_version == 10);  // nothing that recent
  CHECK(m->get("cursor")->floor_version == 7);

  RetentionSnapshot all = m->list();
  REQUIRE(all.policies.size() == 3);
  CHECK(all.policies[0].id == "age");
  CHECK(all.policies[1].id == "cursor");
  CHECK(all.policies[2].id == "recent");
  CHECK(all.oldest_version == 0);
  CHECK(all.latest_version == 10);
}

TEST_CASE("retention: create, replace, get, remove; bad ids and values; the policy limit") {
  TempDir dir;
  Clock clock;
  auto store = open_store(dir.path());
  auto m = open_manager(*store, options_with(clock));

  RetentionPutResult created = m->put("a", RetentionKind::kKeepSeconds, 60);
  REQUIRE(created.status.ok());
  CHECK(created.created);
  CHECK(created.policy.created_at_ms == kBaseMs);
  CHECK(created.policy.updated_at_ms == kBaseMs);
  clock.now_ms = kBaseMs + 5;
  RetentionPutResult replaced = m->put("a", RetentionKind::kKeepVersions, 9);
  REQUIRE(replaced.status.ok());
  CHECK_FALSE(replaced.created);
  CHECK(replaced.policy.kind == RetentionKind::kKeepVersions);
  CHECK(replaced.policy.value == 9);
  CHECK(replaced.policy.created_at_ms == kBaseMs);
  CHECK(replaced.policy.updated_at_ms == kBaseMs + 5);
  CHECK(m->get("a")->value == 9);
  CHECK_FALSE(m->get("b").has_value());
  CHECK(m->remove("b").code() == StatusCode::kNotFound);

  auto rejected = [&](std::string_view id, RetentionKind kind, uint64_t value) {
    RetentionPutResult r = m->put(id, kind, value);
    CHECK(r.status.code() == StatusCode::kInvalidArgument);
    return r.status.message();
  };
  CHECK(rejected("", RetentionKind::kKeepSeconds, 1).starts_with("policy_id: must not be empty"));
  CHECK(rejected(std::string(129, 'x'), RetentionKind::kKeepSeconds, 1)
            .starts_with("policy_id: is 129 characters long"));
  CHECK(rejected("a/b", RetentionKind::kKeepSeconds, 1)
            .starts_with("policy_id: invalid character at offset 1"));
  CHECK(rejected("x", RetentionKind::kAfterVersion, uint64_t{1} << 53)
            .starts_with("after_version: 9007199254740992 is out of range"));
  CHECK(rejected("x", RetentionKind::kKeepVersions, uint64_t{1} << 53)
            .starts_with("keep_versions: "));
  CHECK(rejected("x", RetentionKind::kKeepSeconds, kMaxKeepSeconds + 1)
            .starts_with("keep_seconds: "));
  put_ok(*m, std::string(128, 'Z'), RetentionKind::kKeepSeconds, kMaxKeepSeconds);
  put_ok(*m, "A-z_0.9", RetentionKind::kAfterVersion, 0);
  put_ok(*m, "d", RetentionKind::kAfterVersion, 0);
  CHECK(rejected("e", RetentionKind::kAfterVersion, 0).find("retention.max_policies = 4") !=
        std::string::npos);
  put_ok(*m, "d", RetentionKind::kAfterVersion, 0);  // replacing is fine at the limit
  CHECK(m->list().policies.size() == 4);
  CHECK(m->remove("a").ok());
  CHECK_FALSE(m->get("a").has_value());
  CHECK(m->list().policies.size() == 3);
}

TEST_CASE("retention: policies are durable across a reopen") {
  TempDir dir;
  Clock clock;
  {
    auto store = open_store(dir.path());
    auto m = open_manager(*store, options_with(clock));
    put_ok(*m, "keep", RetentionKind::kKeepSeconds, 3600);
    put_ok(*m, "cursor", RetentionKind::kAfterVersion, 0);
    put_ok(*m, "gone", RetentionKind::kKeepVersions, 1);
    CHECK(m->remove("gone").ok());
    clock.now_ms = kBaseMs + 1;
    put_ok(*m, "cursor", RetentionKind::kAfterVersion, 0);
    // Other users of the metadata map are not policies.
    REQUIRE(store->put_metadata("closed_request_id/x", "1").ok());
  }
  auto store = open_store(dir.path());
  auto m = open_manager(*store, options_with(clock));
  RetentionSnapshot all = m->list();
  REQUIRE(all.policies.size() == 2);
  CHECK(all.policies[0].id == "cursor");
  CHECK(all.policies[0].created_at_ms == kBaseMs);
  CHECK(all.policies[0].updated_at_ms == kBaseMs + 1);
  CHECK(all.policies[1].id == "keep");
  CHECK(all.policies[1].kind == RetentionKind::kKeepSeconds);
  CHECK(all.policies[1].value == 3600);
}

TEST_CASE("retention: an unreadable stored policy refuses to open, naming it") {
  TempDir dir;
  auto store = open_store(dir.path());
  REQUIRE(store->put_metadata("retention/p", "v1 keep_weeks 3 0 0").ok());
  Clock clock;
  auto opened = RetentionManager::open(*store, options_with(clock));
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.status().code() == StatusCode::kCorruption);
  CHECK(opened.status().message().find("retention/p") != std::string::npos);
}

TEST_CASE("retention: truncation drops whole segments below the floor and keeps what is pinned") {
  TempDir dir;
  Clock clock;
  auto store = open_store(dir.path());
  fill_seconds(*store, 10);
  std::vector<uint64_t> deleted;
  RetentionOptions options = options_with(clock);
  options.on_truncated = [&deleted](uint64_t bytes) { deleted.push_back(bytes); };
  auto m = open_manager(*store, std::move(options));

  Result<uint64_t> pass = m->truncate_now();  // the default keeps a day: nothing goes
  REQUIRE(pass.ok());
  CHECK(pass.value() == 0);
  CHECK(store->segment_count() == 5);

  put_ok(*m, "cursor", RetentionKind::kAfterVersion, 5);
  const uint64_t bytes_before = store->bytes();
  pass = m->truncate_now();
  REQUIRE(pass.ok());
  CHECK(pass.value() > 0);
  CHECK(store->bytes() == bytes_before - pass.value());
  CHECK(segment_names(dir.path()).size() == 3);  // {5,6} holds version 6, needed after 5
  CHECK(store->oldest_version() == 4);
  CHECK(read_all(*store, 5).size() == 5);  // the cursor still reads everything after it

  // Pinning history that is gone is refused, with the oldest version that can be pinned.
  RetentionPutResult late = m->put("late", RetentionKind::kAfterVersion, 3);
  CHECK(late.status.code() == StatusCode::kLogTruncated);
  CHECK(late.oldest_version == 4);
  CHECK_FALSE(m->get("late").has_value());
  put_ok(*m, "late", RetentionKind::kAfterVersion, 4);

  // Moving both cursors on lets the next pass drop more; the active segment always stays.
  put_ok(*m, "cursor", RetentionKind::kAfterVersion, 10);
  put_ok(*m, "late", RetentionKind::kAfterVersion, 10);
  pass = m->truncate_now();
  REQUIRE(pass.ok());
  CHECK(segment_names(dir.path()).size() == 1);
  CHECK(store->oldest_version() == 8);
  CHECK(deleted.size() == 3);
  CHECK(deleted[0] == 0);
}

TEST_CASE("retention: keep_seconds truncation follows the clock") {
  TempDir dir;
  Clock clock;
  auto store = open_store(dir.path());
  fill_seconds(*store, 10);
  auto m = open_manager(*store, options_with(clock));
  put_ok(*m, "age", RetentionKind::kKeepSeconds, 60);
  clock.now_ms = kBaseMs + 60'000 + 4500;  // versions >= 5 are younger than 60 s
  REQUIRE(m->truncate_now().ok());
  CHECK(store->oldest_version() == 4);
  clock.now_ms = kBaseMs + 1'000'000;
  REQUIRE(m->truncate_now().ok());
  CHECK(store->segment_count() == 1);
  CHECK(store->oldest_version() == 8);
}

TEST_CASE("retention: a failed metadata write (disk full) changes nothing") {
  TempDir dir;
  Clock clock;
  FaultyFileOps ops;
  {
    auto store = open_store(dir.path(), test::kSmallSegmentBytes, &ops);
    auto m = open_manager(*store, options_with(clock));
    put_ok(*m, "a", RetentionKind::kKeepSeconds, 10);
    ops.fail(FaultyFileOps::kWrite, ENOSPC);
    RetentionPutResult r = m->put("a", RetentionKind::kKeepVersions, 1);
    CHECK(r.status.code() == StatusCode::kResourceExhausted);
    r = m->put("b", RetentionKind::kKeepVersions, 1);
    CHECK(r.status.code() == StatusCode::kResourceExhausted);
    CHECK(m->remove("a").code() == StatusCode::kResourceExhausted);
    ops.clear();
    REQUIRE(m->list().policies.size() == 1);
    CHECK(m->get("a")->kind == RetentionKind::kKeepSeconds);
    CHECK(store->healthy());
  }
  auto store = open_store(dir.path());
  auto m = open_manager(*store, options_with(clock));
  REQUIRE(m->list().policies.size() == 1);
  CHECK(m->get("a")->value == 10);
}

// The background job: every pass reports through on_truncated; the test waits for passes
// with a condition variable (no clock involved: the interval is a day).
struct PassLog {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<uint64_t> passes;

  void record(uint64_t bytes) {
    std::lock_guard lock(mutex);
    passes.push_back(bytes);
    cv.notify_all();
  }
  size_t count() {
    std::lock_guard lock(mutex);
    return passes.size();
  }
  void wait_for_passes(size_t count) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return passes.size() >= count; });
  }
};

TEST_CASE("retention job: runs at start and at once after a policy changes; stops promptly") {
  TempDir dir;
  Clock clock;
  auto store = open_store(dir.path());
  fill_seconds(*store, 10);
  PassLog log;
  RetentionOptions options = options_with(clock);
  options.on_truncated = [&log](uint64_t bytes) { log.record(bytes); };
  auto m = open_manager(*store, std::move(options));
  put_ok(*m, "cursor", RetentionKind::kAfterVersion, 2);
  m->start();
  log.wait_for_passes(1);  // the pass at start (it may also see the wake-up of the put)
  CHECK(store->oldest_version() == 2);

  put_ok(*m, "pin", RetentionKind::kAfterVersion, 2);
  put_ok(*m, "cursor", RetentionKind::kAfterVersion, 9);
  CHECK(m->remove("pin").ok());  // wakes the job: the floor rose from 2 to 9
  // bounded-poll: each iteration waits (untimed) for one more pass; a pass that finds the
  // floor already applied deletes nothing, so at most a few passes are needed.
  for (size_t seen = log.count(), i = 0; store->oldest_version() != 8; ++i) {
    REQUIRE_MESSAGE(i < 10, "the job did not truncate after the policy was removed");
    log.wait_for_passes(++seen);
  }
  CHECK(store->segment_count() == 1);
  m->stop();  // prompt although the next scheduled pass is a day away
  m->stop();  // idempotent
}

TEST_CASE("retention job: concurrent puts and passes (TSan)") {
  TempDir dir;
  Clock clock;
  auto store = open_store(dir.path());
  fill_seconds(*store, 4);
  PassLog log;
  RetentionOptions options = options_with(clock);
  options.on_truncated = [&log](uint64_t bytes) { log.record(bytes); };
  auto m = open_manager(*store, std::move(options));
  m->start();
  std::thread writer([&] {
    for (int i = 0; i < 200; ++i) {
      append_at(*store, kBaseMs);
      if (i % 10 == 0) put_ok(*m, "cursor", RetentionKind::kAfterVersion, store->latest_version());
    }
  });
  for (int i = 0; i < 50; ++i) {
    RetentionSnapshot all = m->list();
    CHECK(all.oldest_version <= all.latest_version);
    REQUIRE(m->truncate_now().ok());
  }
  writer.join();
  REQUIRE(m->truncate_now().ok());
  const uint64_t cursor = m->get("cursor")->value;
  CHECK(store->oldest_version() <= cursor);
  CHECK(store->segment_count() <= 2 + (store->latest_version() - cursor) / 2);
  CHECK(read_all(*store, cursor).size() == store->latest_version() - cursor);
  m->stop();
}

}  // namespace
}  // namespace weasel
