// LocalLogStore under I/O failures (src/log/local_log_store.hpp), injected into real file
// I/O through FaultyFileOps: a failed append fails the store and never pretends durability;
// what was durable stays readable and survives a reopen.

#include <doctest/doctest.h>

#include <cerrno>
#include <filesystem>

#include "faulty_file_ops.hpp"
#include "store_fixture.hpp"

namespace weasel {
namespace {

using test::append_ok;
using test::append_status;
using test::FaultyFileOps;
using test::fill;
using test::header_of;
using test::make_batch;
using test::open_store;
using test::read_all;
using test::TempDir;

constexpr size_t kBigValueBytes = 3000;  // two of these fill a 4 KiB segment: every batch rolls

void expect_failed_and_intact(LocalLogStore& store, FaultyFileOps& ops,
                              const std::vector<std::string>& durable, StatusCode code) {
  CHECK_FALSE(store.healthy());
  CHECK(store.health().code() == code);
  CHECK(store.latest_version() == header_of(durable.back()).last_version);
  CHECK(read_all(store, 0) == durable);  // reads keep working
  // Later appends fail at once, without touching the disk.
  ops.clear();
  Status again = append_status(store, make_batch(store.latest_version(), 1));
  CHECK(again.code() == StatusCode::kUnavailable);
  CHECK(again.message().find(store.health().message()) != std::string::npos);
  CHECK(store.latest_version() == header_of(durable.back()).last_version);
}

TEST_CASE("faults: ENOSPC on append fails the append and the store") {
  TempDir dir;
  FaultyFileOps ops;
  std::vector<std::string> durable;
  {
    auto store = open_store(dir.path(), test::kSmallSegmentBytes, &ops);
    durable = fill(*store, 10);
    std::string path = dir.path() + "/" + test::segment_names(dir.path()).back();
    uint64_t size_before = std::filesystem::file_size(path);

    SUBCASE("nothing written") {
      ops.fail(FaultyFileOps::kWrite, ENOSPC);
    }
    SUBCASE("half written, then cut back") {
      ops.fail(FaultyFileOps::kWrite, ENOSPC, 0, true, 40);
    }
    SUBCASE("half written and the cut fails too: recovery drops the torn bytes") {
      ops.fail(FaultyFileOps::kWrite, ENOSPC, 0, true, 40);
      ops.fail(FaultyFileOps::kTruncate, EIO);
    }
    Status s = append_status(*store, make_batch(store->latest_version(), 2));
    CHECK(s.code() == StatusCode::kResourceExhausted);
    CHECK_MESSAGE(s.message().find(path) != std::string::npos, s.message());
    CHECK(s.message().find("No space left on device") != std::string::npos);
    if (ops.failures(FaultyFileOps::kTruncate) == 0) {
      CHECK(std::filesystem::file_size(path) == size_before);
    }
    expect_failed_and_intact(*store, ops, durable, StatusCode::kResourceExhausted);
  }
  ops.clear();
  auto store = open_store(dir.path(), test::kSmallSegmentBytes, &ops);
  CHECK(store->healthy());
  CHECK(read_all(*store, 0) == durable);
  fill(*store, 3);
}

TEST_CASE("faults: a failed fdatasync fails the store; the batch may surface after restart") {
  TempDir dir;
  FaultyFileOps ops;
  std::vector<std::string> durable;
  std::string unacknowledged;
  {
    auto store = open_store(dir.path(), test::kSmallSegmentBytes, &ops);
    durable = fill(*store, 5);
    ops.fail(FaultyFileOps::kSyncData, EIO);
    unacknowledged = make_batch(store->latest_version(), 2);
    Status s = append_status(*store, unacknowledged);
    CHECK(s.code() == StatusCode::kIoError);
    CHECK(s.message().find("fdatasync") != std::string::npos);
    expect_failed_and_intact(*store, ops, durable, StatusCode::kIoError);
  }
  // The write itself reached the file, so the batch is there after a restart: a commit whose
  // answer was an error has an unknown outcome, which is what /v1/status resolves.
  ops.clear();
  auto store = open_store(dir.path(), test::kSmallSegmentBytes, &ops);
  std::vector<std::string> expected = durable;
  expected.push_back(unacknowledged);
  CHECK(read_all(*store, 0) == expected);
}

TEST_CASE("faults: failing to create or register a new segment fails the store") {
  TempDir dir;
  FaultyFileOps ops;
  std::vector<std::string> durable;
  {
    auto store = open_store(dir.path(), test::kSmallSegmentBytes, &ops);
    durable.push_back(make_batch(0, 2, 1, kBigValueBytes));
    append_ok(*store, durable.back());
    StatusCode code = StatusCode::kIoError;
    SUBCASE("create fails") {
      ops.fail(FaultyFileOps::kOpen, ENOSPC);
      code = StatusCode::kResourceExhausted;
    }
    SUBCASE("the directory fsync fails") {
      ops.fail(FaultyFileOps::kSync, EIO);
    }
    Status s = append_status(*store, make_batch(store->latest_version(), 2, 1, kBigValueBytes));
    CHECK(s.code() == code);
    CHECK(store->segment_count() == 1);
    expect_failed_and_intact(*store, ops, durable, code);
  }
  ops.clear();
  auto store = open_store(dir.path(), test::kSmallSegmentBytes, &ops);
  CHECK(read_all(*store, 0) == durable);
  append_ok(*store, make_batch(store->latest_version(), 2, 1, kBigValueBytes));
  CHECK(store->segment_count() == 2);
}

TEST_CASE("faults: a failed metadata write changes nothing and keeps the store healthy") {
  TempDir dir;
  FaultyFileOps ops;
  auto store = open_store(dir.path(), test::kSmallSegmentBytes, &ops);
  REQUIRE(store->put_metadata("policy", "old").ok());
  FaultyFileOps::Op op = FaultyFileOps::kWrite;
  SUBCASE("write") {
    op = FaultyFileOps::kWrite;
  }
  SUBCASE("fsync of the file") {
    op = FaultyFileOps::kSync;
  }
  SUBCASE("rename") {
    op = FaultyFileOps::kRename;
  }
  ops.fail(op, ENOSPC);
  CHECK(store->put_metadata("policy", "new").code() == StatusCode::kResourceExhausted);
  CHECK(store->delete_metadata("policy").code() == StatusCode::kResourceExhausted);
  ops.clear();
  CHECK(store->healthy());
  CHECK(store->get_metadata("policy") == std::optional<std::string>("old"));
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/METADATA.tmp"));
  store.reset();
  store = open_store(dir.path());
  CHECK(store->get_metadata("policy") == std::optional<std::string>("old"));
}

TEST_CASE("faults: a metadata write with an unknown outcome fails the store") {
  TempDir dir;
  FaultyFileOps ops;
  auto store = open_store(dir.path(), test::kSmallSegmentBytes, &ops);
  fill(*store, 2);
  ops.fail(FaultyFileOps::kSync, EIO, /*skip=*/1);  // the file fsync passes, the directory's fails
  CHECK(store->put_metadata("policy", "new").code() == StatusCode::kIoError);
  CHECK_FALSE(store->healthy());
  CHECK(append_status(*store, make_batch(4, 1)).code() == StatusCode::kUnavailable);
}

TEST_CASE("faults: a truncation whose floor cannot be recorded deletes nothing") {
  TempDir dir;
  FaultyFileOps ops;
  auto store = open_store(dir.path(), test::kSmallSegmentBytes, &ops);
  std::vector<std::string> batches = fill(*store, 100);
  size_t segments = store->segment_count();
  ops.fail(FaultyFileOps::kRename, EIO, 0, false);
  CHECK(store->truncate_before(store->latest_version()).status().code() == StatusCode::kIoError);
  CHECK(store->segment_count() == segments);
  CHECK(store->oldest_version() == 0);
  CHECK(read_all(*store, 0) == batches);
  CHECK(store->truncate_before(store->latest_version()).ok());
  CHECK(store->segment_count() == 1);
}

TEST_CASE("faults: read errors and damage found after open are reported by read_after") {
  TempDir dir;
  FaultyFileOps ops;
  auto store = open_store(dir.path(), test::kSmallSegmentBytes, &ops);
  std::vector<std::string> batches = fill(*store, 30);
  auto count_all = [](std::string_view) { return true; };

  ops.fail(FaultyFileOps::kRead, EIO, 0, false);
  Result<uint64_t> r = store->read_after(0, 1 << 20, count_all);
  CHECK(r.status().code() == StatusCode::kIoError);
  CHECK(r.status().message().find(dir.path()) != std::string::npos);
  CHECK(read_all(*store, 0) == batches);  // the fault was one call

  // Bit rot in a published batch: the store checks every batch it hands out.
  std::string name = test::segment_names(dir.path()).front();
  std::string path = dir.path() + "/" + name;
  std::string bytes = test::read_file(path);
  uint64_t offset = batches[0].size() + batches[1].size();
  bytes[offset + 70] ^= 0x04;
  test::write_file(path, bytes);
  r = store->read_after(header_of(batches[1]).last_version, 1 << 20, count_all);
  CHECK(r.status().code() == StatusCode::kCorruption);
  CHECK_MESSAGE(
      r.status().message().find(path + " at offset " + std::to_string(offset)) != std::string::npos,
      r.status().message());
}

}  // namespace
}  // namespace weasel
