// Recovery of LocalLogStore (src/log/local_log_store.hpp): a torn last batch is truncated
// away, at every byte offset; damage anywhere else refuses to open, naming file and offset,
// and leaves the files as they were.

#include <doctest/doctest.h>

#include <filesystem>
#include <map>

#include "store_fixture.hpp"

namespace weasel {
namespace {

using test::append_ok;
using test::fill;
using test::header_of;
using test::make_batch;
using test::open_store;
using test::read_all;
using test::TempDir;

std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    files[entry.path().filename().string()] = test::read_file(entry.path().string());
  }
  return files;
}

void restore(const std::string& dir, const std::map<std::string, std::string>& files) {
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!files.contains(entry.path().filename().string())) std::filesystem::remove(entry.path());
  }
  for (const auto& [name, bytes] : files) test::write_file(dir + "/" + name, bytes);
}

// A store whose last batch sits after others in its segment (or, with `last_starts_segment`,
// is the first batch of a fresh segment). Returns every batch appended.
std::vector<std::string> build(const std::string& dir, bool last_starts_segment) {
  auto store = open_store(dir);
  std::vector<std::string> batches = fill(*store, 100);  // several segments
  for (size_t before = store->segment_count(); store->segment_count() == before;) {
    REQUIRE(batches.size() < 1000);
    batches.push_back(make_batch(store->latest_version(), 2));
    append_ok(*store, batches.back());
  }
  if (!last_starts_segment) {
    size_t segments = store->segment_count();
    std::vector<std::string> more = fill(*store, 3);
    batches.insert(batches.end(), more.begin(), more.end());
    REQUIRE(store->segment_count() == segments);
  }
  return batches;
}

// Opens the damaged store and checks that exactly the last batch is gone, then that appends
// continue where the log now ends.
void expect_last_batch_dropped(const std::string& dir, const std::vector<std::string>& batches,
                               const std::string& last_path, uint64_t last_start) {
  std::vector<std::string> kept(batches.begin(), batches.end() - 1);
  auto store = open_store(dir);
  REQUIRE(store->healthy());
  CHECK(store->latest_version() == header_of(kept.back()).last_version);
  if (last_start == 0) {
    CHECK_FALSE(std::filesystem::exists(last_path));  // an empty last segment is removed
  } else {
    CHECK(std::filesystem::file_size(last_path) == last_start);
  }
  REQUIRE(read_all(*store, 0) == kept);
  append_ok(*store, batches.back());
  CHECK(store->latest_version() == header_of(batches.back()).last_version);
}

TEST_CASE("recovery: a torn last batch is truncated at every byte offset") {
  for (bool last_starts_segment : {false, true}) {
    CAPTURE(last_starts_segment);
    TempDir dir;
    std::vector<std::string> batches = build(dir.path(), last_starts_segment);
    std::string last_name = test::segment_names(dir.path()).back();
    std::string last_path = dir.path() + "/" + last_name;
    const std::map<std::string, std::string> files = snapshot(dir.path());
    const std::string& segment = files.at(last_name);
    uint64_t last_start = segment.size() - batches.back().size();
    REQUIRE(segment.substr(last_start) == batches.back());
    CHECK((last_start == 0) == last_starts_segment);

    for (uint64_t cut = last_start; cut < segment.size(); ++cut) {
      CAPTURE(cut);
      restore(dir.path(), files);
      test::write_file(last_path, std::string_view(segment).substr(0, cut));
      expect_last_batch_dropped(dir.path(), batches, last_path, last_start);
    }
  }
}

TEST_CASE("recovery: a damaged last batch at the very end is truncated, for every byte") {
  TempDir dir;
  std::vector<std::string> batches = build(dir.path(), false);
  std::string last_name = test::segment_names(dir.path()).back();
  std::string last_path = dir.path() + "/" + last_name;
  const std::map<std::string, std::string> files = snapshot(dir.path());
  const std::string& segment = files.at(last_name);
  uint64_t last_start = segment.size() - batches.back().size();
  for (uint64_t i = last_start; i < segment.size(); ++i) {
    CAPTURE(i);
    restore(dir.path(), files);
    std::string damaged = segment;
    damaged[i] = static_cast<char>(damaged[i] ^ 0xff);
    test::write_file(last_path, damaged);
    expect_last_batch_dropped(dir.path(), batches, last_path, last_start);
  }
}

TEST_CASE("recovery: zeros after the last batch (size grew, data never written) are dropped") {
  TempDir dir;
  std::vector<std::string> batches = build(dir.path(), false);
  std::string last_path = dir.path() + "/" + test::segment_names(dir.path()).back();
  std::string segment = test::read_file(last_path);
  test::write_file(last_path, segment + std::string(300, '\0'));
  auto store = open_store(dir.path());
  CHECK(read_all(*store, 0) == batches);
  CHECK(std::filesystem::file_size(last_path) == segment.size());
}

// Opens, expects corruption naming `file` and `offset`, and checks nothing was modified.
void expect_refusal(const std::string& dir, const std::string& file, uint64_t offset) {
  std::map<std::string, std::string> before = snapshot(dir);
  Status s = test::open_status(dir);
  CHECK(s.code() == StatusCode::kCorruption);
  CHECK_MESSAGE(s.message().find(dir + "/" + file) != std::string::npos, s.message());
  CHECK_MESSAGE(s.message().find("at offset " + std::to_string(offset)) != std::string::npos,
                s.message());
  before.erase("LOCK");
  std::map<std::string, std::string> after = snapshot(dir);
  after.erase("LOCK");
  CHECK(before == after);
}

// Byte offset of batch `index` within its segment file, and that file's name.
std::pair<std::string, uint64_t> locate(const std::string& dir, const std::string& batch) {
  for (const std::string& name : test::segment_names(dir)) {
    std::string bytes = test::read_file(dir + "/" + name);
    size_t at = bytes.find(batch);
    if (at != std::string::npos) return {name, at};
  }
  FAIL("batch not found");
  return {};
}

TEST_CASE("recovery: damage before the end of the last segment refuses to open") {
  TempDir dir;
  std::vector<std::string> batches = build(dir.path(), false);
  const std::string& victim = batches[batches.size() - 3];  // in the last segment, not last
  auto [name, offset] = locate(dir.path(), victim);
  REQUIRE(name == test::segment_names(dir.path()).back());
  std::string path = dir.path() + "/" + name;
  std::string original = test::read_file(path);

  SUBCASE("payload byte: the intact header says more bytes follow") {
    std::string damaged = original;
    damaged[offset + victim.size() - 5] ^= 0x10;
    test::write_file(path, damaged);
    expect_refusal(dir.path(), name, offset);
  }
  SUBCASE("header byte: a valid batch follows the damage") {
    for (size_t i : {size_t{0}, size_t{9}, size_t{30}, kBatchHeaderBytes - 1}) {
      std::string damaged = original;
      damaged[offset + i] ^= 0x01;
      test::write_file(path, damaged);
      expect_refusal(dir.path(), name, offset);
    }
  }
  SUBCASE("a batch cut out of the middle: version order broken") {
    std::string damaged = original.substr(0, offset) + original.substr(offset + victim.size());
    test::write_file(path, damaged);
    expect_refusal(dir.path(), name, offset);
  }
}

TEST_CASE("recovery: damage in an earlier segment refuses to open, even in its last batch") {
  TempDir dir;
  build(dir.path(), false);
  std::vector<std::string> names = test::segment_names(dir.path());
  REQUIRE(names.size() >= 3);
  std::string path = dir.path() + "/" + names[1];
  std::string original = test::read_file(path);
  std::string last_batch_of_file;
  uint64_t offset = 0;
  while (offset < original.size()) {
    BatchHeader h = header_of(std::string_view(original).substr(offset));
    if (offset + h.batch_bytes == original.size()) break;
    offset += h.batch_bytes;
  }
  SUBCASE("a flipped byte") {
    std::string damaged = original;
    damaged[original.size() - 1] ^= 0x01;
    test::write_file(path, damaged);
    expect_refusal(dir.path(), names[1], offset);
  }
  SUBCASE("a torn end") {
    test::write_file(path, std::string_view(original).substr(0, original.size() - 1));
    expect_refusal(dir.path(), names[1], offset);
  }
}

TEST_CASE("recovery: missing, misnamed and empty segments refuse to open") {
  TempDir dir;
  build(dir.path(), false);
  std::vector<std::string> names = test::segment_names(dir.path());
  REQUIRE(names.size() >= 4);
  SUBCASE("a missing middle segment") {
    std::filesystem::remove(dir.path() + "/" + names[1]);
    expect_refusal(dir.path(), names[2], 0);
  }
  SUBCASE("a missing first segment") {
    std::filesystem::remove(dir.path() + "/" + names[0]);
    Status s = test::open_status(dir.path());
    CHECK(s.code() == StatusCode::kCorruption);
    CHECK(s.message().find(names[1]) != std::string::npos);
  }
  SUBCASE("a segment whose name is not its first version") {
    uint64_t v = *parse_segment_file_name(names[1]);
    std::string wrong = segment_file_name(v + 1);
    std::filesystem::rename(dir.path() + "/" + names[1], dir.path() + "/" + wrong);
    expect_refusal(dir.path(), wrong, 0);
  }
  SUBCASE("an empty segment that is not the last") {
    test::write_file(dir.path() + "/" + names[1], "");
    Status s = test::open_status(dir.path());
    CHECK(s.code() == StatusCode::kCorruption);
    CHECK(s.message().find(names[1]) != std::string::npos);
  }
  SUBCASE("a damaged metadata file") {
    {
      auto store = open_store(dir.path());
      REQUIRE(store->put_metadata("k", "v").ok());
    }
    std::string meta = test::read_file(dir.path() + "/METADATA");
    meta[meta.size() / 2] ^= 0x01;
    test::write_file(dir.path() + "/METADATA", meta);
    Status s = test::open_status(dir.path());
    CHECK(s.code() == StatusCode::kCorruption);
    CHECK(s.message().find("METADATA") != std::string::npos);
  }
}

TEST_CASE("recovery: an empty last segment and a leftover METADATA.tmp are cleaned up") {
  TempDir dir;
  std::vector<std::string> batches = build(dir.path(), false);
  std::string empty = segment_file_name(header_of(batches.back()).last_version + 1);
  test::write_file(dir.path() + "/" + empty, "");
  test::write_file(dir.path() + "/METADATA.tmp", "half-written");
  auto store = open_store(dir.path());
  CHECK(read_all(*store, 0) == batches);
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/" + empty));
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/METADATA.tmp"));
}

}  // namespace
}  // namespace weasel
