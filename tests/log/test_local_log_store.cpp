// Tests for LocalLogStore (src/log/local_log_store.hpp): appends, reads across segment rolls,
// reopening, truncation, metadata, locking and I/O failures. Recovery from torn and corrupt
// files is in test_log_recovery.cpp.

#include "log/local_log_store.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <numeric>

#include "faulty_file_ops.hpp"
#include "store_fixture.hpp"

namespace weasel {
namespace {

using test::append_ok;
using test::append_status;
using test::fill;
using test::header_of;
using test::make_batch;
using test::open_store;
using test::read_all;
using test::TempDir;

uint64_t file_bytes_total(const std::string& dir) {
  uint64_t total = 0;
  for (const std::string& name : test::segment_names(dir)) {
    total += std::filesystem::file_size(dir + "/" + name);
  }
  return total;
}

TEST_CASE("local store: a new store is empty") {
  TempDir dir;
  auto store = open_store(dir.sub("log"));  // created if missing
  CHECK(store->oldest_version() == 0);
  CHECK(store->latest_version() == 0);
  CHECK(store->bytes() == 0);
  CHECK(store->healthy());
  CHECK(store->segment_count() == 0);
  CHECK(read_all(*store, 0).empty());
}

TEST_CASE("local store: append completes synchronously and reads return the same bytes") {
  TempDir dir;
  auto store = open_store(dir.path());
  std::string batch = make_batch(0, 3);
  bool done = false;
  store->append(batch, [&](const Status& s) {
    CHECK(s.ok());
    // Published before done runs: a reader woken by done sees the batch.
    CHECK(store->latest_version() == 3);
    done = true;
  });
  CHECK(done);
  CHECK(store->latest_version() == 3);
  CHECK(store->bytes() == batch.size());
  std::vector<std::string> read = read_all(*store, 0);
  REQUIRE(read.size() == 1);
  CHECK(read[0] == batch);
}

TEST_CASE("local store: reads across segment rolls, from every version, bounded by max_bytes") {
  TempDir dir;
  auto store = open_store(dir.path());
  std::vector<std::string> batches = fill(*store, 120, 3, 2);  // versions 2, 4, 6, ...
  CHECK(store->segment_count() > 5);
  CHECK(test::segment_names(dir.path()).size() == store->segment_count());
  CHECK(store->bytes() == file_bytes_total(dir.path()));
  for (const std::string& name : test::segment_names(dir.path())) {
    CHECK(std::filesystem::file_size(dir.path() + "/" + name) <= test::kSmallSegmentBytes);
  }
  CHECK(read_all(*store, 0) == batches);
  CHECK(read_all(*store, 0, 1) == batches);  // one batch per call

  uint64_t latest = store->latest_version();
  for (uint64_t after = 0; after <= latest + 1; ++after) {
    // The first batch delivered holds the first transaction after `after`: no gap.
    std::vector<std::string> got;
    Result<uint64_t> next = store->read_after(after, 1, [&](std::string_view b) {
      got.emplace_back(b);
      return true;
    });
    REQUIRE(next.ok());
    if (after >= latest) {
      CHECK(got.empty());
      CHECK(next.value() == after);
      continue;
    }
    REQUIRE(got.size() == 1);
    BatchHeader h = header_of(got[0]);
    CHECK(h.prev_version <= after);
    CHECK(h.last_version > after);
    CHECK(next.value() == h.last_version);
  }

  SUBCASE("max_bytes admits whole batches up to the budget") {
    size_t three = batches[0].size() + batches[1].size() + batches[2].size();
    int calls = 0;
    Result<uint64_t> next = store->read_after(0, three, [&](std::string_view) {
      calls += 1;
      return true;
    });
    REQUIRE(next.ok());
    CHECK(calls == 3);
    CHECK(next.value() == header_of(batches[2]).last_version);
  }
  SUBCASE("the callback stops the read") {
    int calls = 0;
    Result<uint64_t> next = store->read_after(0, 1 << 20, [&](std::string_view) {
      calls += 1;
      return false;
    });
    REQUIRE(next.ok());
    CHECK(calls == 1);
    CHECK(next.value() == header_of(batches[0]).last_version);
  }
}

TEST_CASE("local store: reads seek through the sparse index of a large segment") {
  TempDir dir;
  test::FaultyFileOps ops;  // no faults: counts the bytes read
  auto store = open_store(dir.path(), 8 << 20, &ops);
  std::vector<std::string> batches;
  for (int i = 0; i < 200; ++i) {
    batches.push_back(make_batch(store->latest_version(), 2, 3, 5000));
    append_ok(*store, batches.back());
  }
  REQUIRE(store->segment_count() == 1);
  REQUIRE(store->bytes() > 6 * kIndexIntervalBytes);
  for (uint64_t after = 0; after < store->latest_version(); ++after) {
    std::string first;
    Result<uint64_t> next = store->read_after(after, 1, [&](std::string_view b) {
      first = std::string(b);
      return true;
    });
    REQUIRE(next.ok());
    BatchHeader h = header_of(first);
    CHECK(h.prev_version <= after);
    CHECK(h.last_version > after);
  }
  // Starting near the end reads about one index interval, not the whole segment.
  uint64_t before = ops.bytes_read.load();
  Result<uint64_t> tail =
      store->read_after(store->latest_version() - 1, 1, [](std::string_view) { return true; });
  REQUIRE(tail.ok());
  CHECK(ops.bytes_read.load() - before <= 2 * kIndexIntervalBytes);
  CHECK(read_all(*store, 0) == batches);
}

TEST_CASE("local store: a batch larger than a segment gets a segment of its own") {
  TempDir dir;
  auto store = open_store(dir.path());
  fill(*store, 2);
  std::string big = make_batch(store->latest_version(), 2, 1, 10'000);
  REQUIRE(big.size() > test::kSmallSegmentBytes);
  append_ok(*store, big);
  std::vector<std::string> after = fill(*store, 2);
  CHECK(store->segment_count() == 3);
  std::vector<std::string> all = read_all(*store, 0);
  REQUIRE(all.size() == 5);
  CHECK(all[2] == big);
  CHECK(all[3] == after[0]);
}

TEST_CASE("local store: reopen keeps everything and appends continue") {
  TempDir dir;
  std::vector<std::string> batches;
  {
    auto store = open_store(dir.path());
    batches = fill(*store, 50);
  }
  auto store = open_store(dir.path());
  CHECK(store->latest_version() == 100);
  CHECK(store->oldest_version() == 0);
  CHECK(store->bytes() == file_bytes_total(dir.path()));
  CHECK(read_all(*store, 0) == batches);
  std::vector<std::string> more = fill(*store, 50);
  batches.insert(batches.end(), more.begin(), more.end());
  CHECK(read_all(*store, 0) == batches);
  store.reset();
  CHECK(read_all(*open_store(dir.path()), 0) == batches);
}

TEST_CASE("local store: invalid appends are refused and the store stays healthy") {
  TempDir dir;
  auto store = open_store(dir.path());
  fill(*store, 2);  // latest 4
  CHECK(append_status(*store, make_batch(3, 1)).code() == StatusCode::kInvalidArgument);
  CHECK(append_status(*store, make_batch(5, 1)).code() == StatusCode::kInvalidArgument);
  CHECK(append_status(*store, "not a batch").code() == StatusCode::kInvalidArgument);
  std::string damaged = make_batch(4, 1);
  damaged[damaged.size() - 1] ^= 1;
  CHECK(append_status(*store, damaged).code() == StatusCode::kInvalidArgument);
  CHECK(append_status(*store, make_batch(4, 1) + "x").code() == StatusCode::kInvalidArgument);
  CHECK(store->healthy());
  CHECK(store->latest_version() == 4);
  append_ok(*store, make_batch(4, 1));
  CHECK(read_all(*store, 0).size() == 3);
}

TEST_CASE("local store: truncate_before deletes whole segments only and oldest_version follows") {
  TempDir dir;
  auto store = open_store(dir.path());
  std::vector<std::string> batches = fill(*store, 150);
  size_t segments = store->segment_count();
  REQUIRE(segments >= 6);
  std::vector<std::string> names = test::segment_names(dir.path());

  // A version in the middle of the fourth segment: the first three go, the fourth stays.
  uint64_t fourth_first = *parse_segment_file_name(names[3]);
  uint64_t fifth_first = *parse_segment_file_name(names[4]);
  uint64_t version = (fourth_first + fifth_first) / 2;
  REQUIRE(store->truncate_before(version).ok());
  CHECK(store->segment_count() == segments - 3);
  CHECK(test::segment_names(dir.path()) ==
        std::vector<std::string>(names.begin() + 3, names.end()));
  CHECK(store->oldest_version() == fourth_first - 1);
  CHECK(store->bytes() == file_bytes_total(dir.path()));

  // Nothing at or after `version` went away: the history after oldest is complete.
  std::vector<std::string> rest = read_all(*store, store->oldest_version());
  REQUIRE(!rest.empty());
  CHECK(header_of(rest.front()).prev_version == store->oldest_version());
  CHECK(rest.back() == batches.back());
  CHECK(rest.size() ==
        static_cast<size_t>(std::count_if(batches.begin(), batches.end(), [&](auto& b) {
          return header_of(b).first_version >= fourth_first;
        })));
  Result<uint64_t> truncated = store->read_after(store->oldest_version() - 1, 1 << 20,
                                                 [](std::string_view) { return true; });
  CHECK(truncated.status().code() == StatusCode::kLogTruncated);

  // Idempotent, and a version inside the oldest segment deletes nothing.
  REQUIRE(store->truncate_before(version).ok());
  REQUIRE(store->truncate_before(fourth_first + 1).ok());
  CHECK(store->segment_count() == segments - 3);

  // The floor survives a reopen.
  uint64_t oldest = store->oldest_version();
  store.reset();
  store = open_store(dir.path());
  CHECK(store->oldest_version() == oldest);
  CHECK(store->segment_count() == segments - 3);

  // Beyond the end: everything but the segment being appended to.
  REQUIRE(store->truncate_before(store->latest_version() + 100).ok());
  CHECK(store->segment_count() == 1);
  CHECK(test::segment_names(dir.path()).size() == 1);
  rest = read_all(*store, store->oldest_version());
  CHECK(rest.back() == batches.back());
  // Appends continue after a truncation, and a fresh segment can be truncated in turn.
  fill(*store, 40);
  REQUIRE(store->truncate_before(store->latest_version()).ok());
  CHECK(store->segment_count() == 1);
  CHECK(store->bytes() == file_bytes_total(dir.path()));
}

// Descriptors this process holds on segment files of `dir`.
int open_segment_descriptors(const std::string& dir) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    std::filesystem::path target = std::filesystem::read_symlink(entry.path(), ec);
    if (!ec && target.parent_path() == dir && target.extension() == ".log") count += 1;
  }
  return count;
}

TEST_CASE("local store: only the segment being appended to stays open") {
  TempDir dir;
  auto store = open_store(dir.path());
  std::vector<std::string> batches = fill(*store, 150);
  REQUIRE(store->segment_count() > 5);
  CHECK(open_segment_descriptors(dir.path()) == 1);
  CHECK(read_all(*store, 0) == batches);  // readers open sealed segments while they read
  CHECK(open_segment_descriptors(dir.path()) == 1);
  store.reset();
  store = open_store(dir.path());
  CHECK(open_segment_descriptors(dir.path()) == 1);
  store.reset();
  CHECK(open_segment_descriptors(dir.path()) == 0);
}

TEST_CASE("local store: a segment truncated while a reader opens it reads as log_truncated") {
  TempDir dir;
  test::FaultyFileOps ops;
  auto store = open_store(dir.path(), test::kSmallSegmentBytes, &ops);
  fill(*store, 100);
  std::vector<std::string> names = test::segment_names(dir.path());
  std::string first = dir.path() + "/" + names[0];
  uint64_t second_version = *parse_segment_file_name(names[1]);
  int truncations = 0;
  ops.before_open = [&](const std::string& path) {
    if (path == first && truncations++ == 0) {
      REQUIRE(store->truncate_before(second_version).ok());
    }
  };
  Result<uint64_t> r = store->read_after(0, 1 << 20, [](std::string_view) { return true; });
  CHECK(truncations == 1);
  CHECK(r.status().code() == StatusCode::kLogTruncated);
  CHECK(store->oldest_version() == second_version - 1);
  ops.before_open = nullptr;
  CHECK(!read_all(*store, store->oldest_version()).empty());
}

TEST_CASE("local store: segments a crashed truncation left behind are removed on open") {
  TempDir dir;
  std::vector<std::string> names;
  std::string first_bytes, second_bytes;
  uint64_t oldest;
  {
    auto store = open_store(dir.path());
    fill(*store, 100);
    names = test::segment_names(dir.path());
    REQUIRE(names.size() >= 4);
    first_bytes = test::read_file(dir.path() + "/" + names[0]);
    second_bytes = test::read_file(dir.path() + "/" + names[1]);
    REQUIRE(store->truncate_before(*parse_segment_file_name(names[2])).ok());
    oldest = store->oldest_version();
  }
  // As if the crash came after the floor was recorded but before the unlinks.
  test::write_file(dir.path() + "/" + names[0], first_bytes);
  test::write_file(dir.path() + "/" + names[1], second_bytes);
  auto store = open_store(dir.path());
  CHECK(store->oldest_version() == oldest);
  CHECK(test::segment_names(dir.path()).front() == names[2]);
  SUBCASE("only the boundary segment left behind") {
    store.reset();
    test::write_file(dir.path() + "/" + names[1], second_bytes);
    store = open_store(dir.path());
    CHECK(store->oldest_version() == oldest);
    CHECK(test::segment_names(dir.path()).front() == names[2]);
  }
}

TEST_CASE("local store: metadata put/get/delete/list survive reopen") {
  TempDir dir;
  {
    auto store = open_store(dir.path());
    CHECK_FALSE(store->get_metadata("retention/a").has_value());
    REQUIRE(store->put_metadata("retention/b", "2").ok());
    REQUIRE(store->put_metadata("retention/a", "1").ok());
    REQUIRE(store->put_metadata("other", std::string("\0bin\xff", 5)).ok());
    REQUIRE(store->put_metadata("retention/a", "one").ok());  // replaced
    REQUIRE(store->put_metadata("retention/c", "").ok());
    CHECK(store->delete_metadata("retention/c").ok());
    CHECK(store->delete_metadata("retention/c").code() == StatusCode::kNotFound);
    CHECK(store->put_metadata("", "x").code() == StatusCode::kInvalidArgument);
    CHECK(store->put_metadata(std::string(kMaxMetadataKeyBytes + 1, 'k'), "x").code() ==
          StatusCode::kInvalidArgument);
    CHECK(store->put_metadata("k", std::string(kMaxMetadataValueBytes + 1, 'v')).code() ==
          StatusCode::kInvalidArgument);
    fill(*store, 3);
  }
  auto store = open_store(dir.path());
  CHECK(store->get_metadata("retention/a") == std::optional<std::string>("one"));
  CHECK(store->get_metadata("retention/b") == std::optional<std::string>("2"));
  CHECK(store->get_metadata("other") == std::optional<std::string>(std::string("\0bin\xff", 5)));
  CHECK_FALSE(store->get_metadata("retention/c").has_value());
  LogStore::MetadataEntries expected = {{"retention/a", "one"}, {"retention/b", "2"}};
  CHECK(store->list_metadata("retention/") == expected);
  CHECK(store->list_metadata("").size() == 3);
  CHECK(store->list_metadata("zzz").empty());
  CHECK(store->latest_version() == 6);
}

TEST_CASE("local store: one store per directory") {
  TempDir dir;
  auto store = open_store(dir.path());
  Status second = test::open_status(dir.path());
  CHECK(second.code() == StatusCode::kBusy);
  CHECK(second.message().find(dir.path()) != std::string::npos);
  store.reset();
  CHECK(test::open_status(dir.path()).ok());
}

TEST_CASE("local store: bad options and a missing directory are refused") {
  TempDir dir;
  CHECK(test::open_status("").code() == StatusCode::kInvalidArgument);
  CHECK(test::open_status(dir.path(), 100).code() == StatusCode::kInvalidArgument);
  LocalLogStoreOptions options;
  options.directory = dir.sub("missing");
  options.create_if_missing = false;
  CHECK(LocalLogStore::open(options).status().code() == StatusCode::kNotFound);
}

TEST_CASE("local store: sync off still stores and reads (benchmark mode)") {
  TempDir dir;
  std::vector<std::string> batches;
  {
    auto store = open_store(dir.path(), test::kSmallSegmentBytes, nullptr, /*sync=*/false);
    batches = fill(*store, 30);
  }
  CHECK(read_all(*open_store(dir.path()), 0) == batches);
}

}  // namespace
}  // namespace weasel
