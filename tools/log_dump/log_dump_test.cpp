// weasel_log_dump (log_dump.hpp): the exact JSON of every operation kind, dumps from any
// starting version over a real LocalLogStore, and the command line's exit statuses and
// messages (usage, missing log, locked log, corruption, torn tail).

#include "log_dump/log_dump.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "log/local_log_store.hpp"
#include "log/log_test_util.hpp"

namespace weasel::log_dump {
namespace {

using test::append_ok;
using test::make_batch;
using test::TempDir;

std::unique_ptr<LocalLogStore> open_store(const std::string& dir,
                                          uint64_t segment_bytes = 1 << 20) {
  LocalLogStoreOptions options;
  options.directory = dir;
  options.segment_bytes = segment_bytes;
  options.sync = false;  // durability is not under test here
  auto opened = LocalLogStore::open(options);
  REQUIRE_MESSAGE(opened.ok(), opened.status().to_string());
  return std::move(opened).value();
}

// Versions 1, 2, 3 (one batch), then 5, 7 (another).
void fill(LogStore& store) {
  append_ok(store, make_batch(0, 3));
  append_ok(store, make_batch(3, 2, 2));
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(text.substr(start, nl - start));
  }
  CHECK(start == text.size());  // every line is complete
  return lines;
}

uint64_t version_of(const std::string& line) {
  REQUIRE(line.starts_with("{\"version\":"));
  return std::stoull(line.substr(11));
}

std::vector<uint64_t> dumped_versions(const LogStore& store, uint64_t after, DumpSummary* summary) {
  std::string text;
  Result<DumpSummary> dumped = dump_log(store, after, [&](std::string_view lines) {
    text += lines;
    return Status{};
  });
  REQUIRE_MESSAGE(dumped.ok(), dumped.status().to_string());
  *summary = dumped.value();
  std::vector<uint64_t> versions;
  for (const std::string& line : split_lines(text)) versions.push_back(version_of(line));
  return versions;
}

struct CliRun {
  int exit_status = -1;
  std::string out, err;
};

std::string read_back(std::FILE* f) {
  std::rewind(f);
  std::string text;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  return text;
}

CliRun run_cli(std::vector<std::string_view> args) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  REQUIRE(out != nullptr);
  REQUIRE(err != nullptr);
  CliRun run;
  run.exit_status = run_log_dump(args, out, err);
  run.out = read_back(out);
  run.err = read_back(err);
  return run;
}

TEST_CASE("every operation kind has the commit request's JSON shape") {
  BatchEncoder encoder;
  encoder.begin(5);
  const LogOperation ops[] = {
      {LogOperation::Type::kWrite, "k", "hello", "", false},
      {LogOperation::Type::kWrite, std::string_view("\x00\xff", 2), "", "", false},
      {LogOperation::Type::kDelete, "", "", "", false},
      {LogOperation::Type::kRangeDelete, "a", "", "b", false},
      {LogOperation::Type::kRangeDelete, "z", "", "", true},
  };
  encoder.add({7, 1'700'000'000'123, "req\"1", ops});
  encoder.add({9, 1'700'000'000'124, "req-2", {}});
  const BatchDecodeResult decoded = BatchView::decode(encoder.finish("leader-1"));
  REQUIRE(decoded.status == DecodeStatus::kOk);
  std::string out;
  for (const TransactionView& txn : decoded.batch.transactions()) {
    append_transaction_json(out, txn, decoded.batch.leader_id());
  }
  CHECK(out ==
        "{\"version\":7,\"prev_version\":5,\"timestamp_ms\":1700000000123,"
        "\"request_id\":\"req\\\"1\",\"leader_id\":\"leader-1\",\"operations\":["
        "{\"type\":\"write\",\"key\":\"aw==\",\"value\":\"aGVsbG8=\"},"
        "{\"type\":\"write\",\"key\":\"AP8=\",\"value\":\"\"},"
        "{\"type\":\"delete\",\"key\":\"\"},"
        "{\"type\":\"range_delete\",\"begin\":\"YQ==\",\"end\":\"Yg==\"},"
        "{\"type\":\"range_delete\",\"begin\":\"eg==\"}]}\n"
        "{\"version\":9,\"prev_version\":7,\"timestamp_ms\":1700000000124,"
        "\"request_id\":\"req-2\",\"leader_id\":\"leader-1\",\"operations\":[]}\n");
}

TEST_CASE("dump_log starts after any version and follows the chain across batches") {
  TempDir dir;
  auto store = open_store(dir.path());
  fill(*store);
  DumpSummary summary;
  CHECK(dumped_versions(*store, 0, &summary) == std::vector<uint64_t>{1, 2, 3, 5, 7});
  CHECK(summary.transaction_count == 5);
  CHECK(summary.first_version == 1);
  CHECK(summary.last_version == 7);
  // Inside the first batch, and between two versions (versions need not be contiguous).
  CHECK(dumped_versions(*store, 2, &summary) == std::vector<uint64_t>{3, 5, 7});
  CHECK(dumped_versions(*store, 4, &summary) == std::vector<uint64_t>{5, 7});
  CHECK(summary.first_version == 5);
  CHECK(dumped_versions(*store, 7, &summary).empty());
  CHECK(summary.transaction_count == 0);
  CHECK(summary.last_version == 0);
}

TEST_CASE("dump_log reports a sink error and truncated history") {
  TempDir dir;
  auto store = open_store(dir.path(), 4096);
  for (int i = 0; i < 3; ++i) {
    append_ok(*store, make_batch(store->latest_version(), 1, 1, 3000));  // a segment each
  }
  REQUIRE(store->segment_count() == 3);
  int calls = 0;
  Result<DumpSummary> failed = dump_log(*store, 0, [&](std::string_view) {
    ++calls;
    return Status::io_error("disk full");
  });
  CHECK(calls == 1);  // the first failure stops the dump
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == StatusCode::kIoError);

  REQUIRE(store->truncate_before(3).ok());
  REQUIRE(store->oldest_version() == 2);
  Result<DumpSummary> truncated = dump_log(*store, 1, [](std::string_view) { return Status{}; });
  REQUIRE_FALSE(truncated.ok());
  CHECK(truncated.status().code() == StatusCode::kLogTruncated);
  DumpSummary summary;
  CHECK(dumped_versions(*store, 2, &summary) == std::vector<uint64_t>{3});
}

TEST_CASE("command line: usage errors exit 2, help exits 0") {
  for (std::vector<std::string_view> args : {std::vector<std::string_view>{},
                                             {"--log"},
                                             {"--log", "x", "--after", "-1"},
                                             {"--log", "x", "--after", "12ab"},
                                             {"--log", "x", "--bogus"}}) {
    const CliRun run = run_cli(args);
    CHECK(run.exit_status == 2);
    CHECK(run.out.empty());
    CHECK(run.err.starts_with("weasel_log_dump: "));
    CHECK(run.err.find("usage:") != std::string::npos);
  }
  const CliRun help = run_cli({"--help"});
  CHECK(help.exit_status == 0);
  CHECK(help.out.starts_with("usage: weasel_log_dump --log DIR"));
}

TEST_CASE("command line: dumps a log, from --after on") {
  TempDir dir;
  fill(*open_store(dir.path()));  // closed again: the tool takes the lock
  const CliRun all = run_cli({"--log", dir.path()});
  CHECK(all.exit_status == 0);
  CHECK(all.err.empty());
  const std::vector<std::string> lines = split_lines(all.out);
  REQUIRE(lines.size() == 5);
  CHECK(version_of(lines[3]) == 5);
  CHECK(lines[3].find("\"prev_version\":3,") != std::string::npos);
  CHECK(lines[3].find("\"request_id\":\"req-5\"") != std::string::npos);
  const CliRun tail = run_cli({"--log", dir.path(), "--after", "3"});
  CHECK(tail.exit_status == 0);
  CHECK(split_lines(tail.out) == std::vector<std::string>{lines[3], lines[4]});
}

TEST_CASE("command line: a missing, locked or corrupt log exits 1 with the reason") {
  TempDir dir;
  const CliRun missing = run_cli({"--log", dir.sub("nope")});
  CHECK(missing.exit_status == 1);
  CHECK(missing.err.find("does not exist") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.sub("nope")));  // not created by the tool

  auto store = open_store(dir.path());
  fill(*store);
  const CliRun locked = run_cli({"--log", dir.path()});
  CHECK(locked.exit_status == 1);
  CHECK(locked.err.find("stop the server first") != std::string::npos);
  store.reset();

  // One byte flipped in the first batch, which valid data follows: not a torn tail.
  const std::string segment = dir.sub(test::segment_names(dir.path()).at(0));
  std::string bytes = test::read_file(segment);
  bytes[kBatchHeaderBytes + 3] ^= 0x40;
  test::write_file(segment, bytes);
  const CliRun corrupt = run_cli({"--log", dir.path()});
  CHECK(corrupt.exit_status == 1);
  CHECK(corrupt.out.empty());
  CHECK(corrupt.err.find("corrupt") != std::string::npos);
  CHECK(corrupt.err.find(segment) != std::string::npos);
}

TEST_CASE("command line: a torn batch at the end is dropped like the server's recovery does") {
  TempDir dir;
  fill(*open_store(dir.path()));
  const std::string segment = dir.sub(test::segment_names(dir.path()).at(0));
  const std::string torn = make_batch(7, 1);
  test::write_file(segment, test::read_file(segment) + torn.substr(0, torn.size() - 3));
  const CliRun run = run_cli({"--log", dir.path()});
  CHECK(run.exit_status == 0);
  const std::vector<std::string> lines = split_lines(run.out);
  REQUIRE(lines.size() == 5);
  CHECK(version_of(lines.back()) == 7);
}

}  // namespace
}  // namespace weasel::log_dump
