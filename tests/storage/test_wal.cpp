// WAL writer and reader: round trips over every fragment shape, a torn tail at every offset,
// a damaged byte at every offset, and hand-made logs for the cases a writer never produces.

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "storage/coding.hpp"
#include "storage/file.hpp"
#include "storage/wal_format.hpp"
#include "storage/wal_reader.hpp"
#include "storage/wal_writer.hpp"
#include "storage_test_util.hpp"

namespace weaseldb::storage {
namespace {

using wal::kBlockBytes;
using wal::kHeaderBytes;

struct Log {
  std::string bytes;
  std::vector<std::string> records;
  std::vector<uint64_t> ends;  // file size after each record
};

Log write_log(const std::vector<std::string>& records) {
  StringWritableFile file;
  WalWriter writer(&file);
  Log log;
  for (const std::string& r : records) {
    REQUIRE(writer.add_record(r).ok());
    log.records.push_back(r);
    log.ends.push_back(file.size());
  }
  log.bytes = file.contents();
  return log;
}

struct Replay {
  std::vector<std::string> records;
  Status status;
  bool torn = false;
};

Replay replay(std::string_view bytes) {
  StringSequentialFile file(bytes);
  WalReader reader(&file, "test.wal");
  Replay out;
  std::string_view record;
  while (reader.read_record(&record)) out.records.emplace_back(record);
  CHECK_FALSE(reader.read_record(&record));  // the end is sticky
  out.status = reader.status();
  out.torn = reader.torn_tail().has_value();
  return out;
}

size_t records_ending_by(const Log& log, uint64_t offset) {
  size_t n = 0;
  while (n < log.ends.size() && log.ends[n] <= offset) ++n;
  return n;
}

// Records of every shape: empty, tiny, ones that leave 0..8 bytes in a block (padding and a
// header with an empty payload), one spanning three blocks (FIRST, MIDDLE, LAST), and a
// small last one.
std::vector<std::string> shaped_records() {
  std::mt19937_64 rng(42);
  std::vector<std::string> records;
  records.push_back("");
  records.push_back("a");
  size_t used = kHeaderBytes + kHeaderBytes + 1;
  // Leave exactly 5 bytes in the first block: they become padding.
  records.push_back(test::random_bytes(rng, kBlockBytes - used - kHeaderBytes - 5));
  records.push_back(test::random_bytes(rng, 2 * kBlockBytes + 1000));  // spans 3 blocks
  records.push_back(test::random_bytes(rng, 300));
  records.push_back("last record");
  return records;
}

TEST_CASE("wal: records of every shape round-trip through a real file") {
  test::TempDir dir;
  std::vector<std::string> records = shaped_records();
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) records.push_back(test::random_bytes(rng, rng() % 3000));
  {
    auto file = open_writable_file(dir.sub("000001.wal"));
    REQUIRE(file.ok());
    WalWriter writer(file.value().get());
    for (const std::string& r : records) REQUIRE(writer.add_record(r).ok());
    REQUIRE(writer.sync().ok());
    REQUIRE(file.value()->close().ok());
  }
  auto file = open_sequential_file(dir.sub("000001.wal"));
  REQUIRE(file.ok());
  WalReader reader(file.value().get(), "000001.wal");
  std::string_view record;
  size_t n = 0;
  while (reader.read_record(&record)) {
    REQUIRE(n < records.size());
    CHECK(record == records[n]);
    ++n;
  }
  CHECK(reader.status().ok());
  CHECK_FALSE(reader.torn_tail().has_value());
  CHECK(n == records.size());
}

TEST_CASE("wal: a block that ends exactly at a header gets an empty first fragment") {
  std::vector<std::string> records;
  records.push_back(std::string(kBlockBytes - 2 * kHeaderBytes, 'x'));  // leaves 8 bytes
  records.push_back("next");
  Log log = write_log(records);
  CHECK(log.ends[0] == kBlockBytes - kHeaderBytes);
  Replay r = replay(log.bytes);
  CHECK(r.status.ok());
  CHECK(r.records == records);
}

TEST_CASE("wal: truncation at every offset yields exactly the complete records") {
  Log log = write_log(shaped_records());
  REQUIRE(log.bytes.size() > 2 * kBlockBytes);
  for (size_t cut = 0; cut <= log.bytes.size(); ++cut) {
    Replay r = replay(std::string_view(log.bytes).substr(0, cut));
    size_t expected = records_ending_by(log, cut);
    uint64_t last_end = expected > 0 ? log.ends[expected - 1] : 0;
    // A cut right after a block's padding leaves nothing partial behind either.
    bool at_boundary = cut == last_end || (cut % kBlockBytes == 0 && cut - last_end < kHeaderBytes);
    INFO("cut at " << cut);
    REQUIRE(r.status.ok());
    REQUIRE(r.records.size() == expected);
    for (size_t i = 0; i < expected; ++i) REQUIRE(r.records[i] == log.records[i]);
    REQUIRE(r.torn == !at_boundary);
  }
}

TEST_CASE("wal: a damaged byte anywhere is corruption, or a dropped last record") {
  Log log = write_log(shaped_records());
  // The last record is small and whole in its block: its fragment starts here.
  size_t last_fragment = log.bytes.size() - log.records.back().size() - kHeaderBytes;
  for (size_t offset = 0; offset < log.bytes.size(); ++offset) {
    std::string damaged = log.bytes;
    damaged[offset] = static_cast<char>(damaged[offset] ^ 0x20);
    Replay r = replay(damaged);
    size_t intact = records_ending_by(log, offset);
    INFO("damaged byte at " << offset);
    REQUIRE(r.records.size() == intact);
    for (size_t i = 0; i < intact; ++i) REQUIRE(r.records[i] == log.records[i]);
    bool in_last_checksum_or_payload =
        offset >= last_fragment && (offset < last_fragment + 4 || offset >= last_fragment + 8);
    if (in_last_checksum_or_payload) {
      // Indistinguishable from a crash in the middle of writing the last record.
      REQUIRE(r.status.ok());
      REQUIRE(r.torn);
    } else {
      REQUIRE(r.status.code() == StatusCode::kCorruption);
    }
  }
}

TEST_CASE("wal: zeros after the log are a torn tail; zeros followed by data are corruption") {
  Log log = write_log(shaped_records());
  std::string zeroed = log.bytes + std::string(3 * kBlockBytes + 17, '\0');
  Replay r = replay(zeroed);
  CHECK(r.status.ok());
  CHECK(r.torn);
  CHECK(r.records == log.records);

  // A hole of zeros inside the last block, then the rest of the log.
  Log small = write_log({"one", "two", "three"});
  std::string holed = small.bytes;
  size_t second = small.ends[0];
  for (size_t i = second; i < small.ends[1]; ++i) holed[i] = '\0';
  Replay h = replay(holed);
  CHECK(h.status.code() == StatusCode::kCorruption);
  CHECK(h.records == std::vector<std::string>{"one"});
}

// A fragment as the writer would emit it, for sequences the writer never produces.
std::string fragment(wal::RecordType type, std::string_view payload) {
  auto t = static_cast<uint8_t>(type);
  auto length = static_cast<uint16_t>(payload.size());
  std::string out(kHeaderBytes, '\0');
  put_fixed32(out.data(), wal::fragment_checksum(payload, t));
  out[4] = static_cast<char>(length & 0xff);
  out[5] = static_cast<char>(length >> 8);
  out[6] = static_cast<char>(t);
  out[7] = static_cast<char>(wal::header_check(length, t));
  out.append(payload);
  return out;
}

TEST_CASE("wal: fragments out of order are corruption") {
  using wal::RecordType;
  struct Case {
    const char* name;
    std::string bytes;
    size_t intact;
  };
  std::string ok = fragment(RecordType::kFull, "ok");
  std::vector<Case> cases = {
      {"middle first", ok + fragment(RecordType::kMiddle, "m") + ok, 1},
      {"last first", ok + fragment(RecordType::kLast, "l") + ok, 1},
      {"full inside", fragment(RecordType::kFirst, "f") + fragment(RecordType::kFull, "x"), 0},
      {"first inside", fragment(RecordType::kFirst, "f") + fragment(RecordType::kFirst, "g"), 0},
      {"zero type", ok + fragment(RecordType::kZero, "z"), 1},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Replay r = replay(c.bytes);
    CHECK(r.status.code() == StatusCode::kCorruption);
    CHECK(r.records.size() == c.intact);
  }
  // A first fragment cut off by the end of the file is a torn tail, not corruption.
  Replay torn = replay(ok + fragment(RecordType::kFirst, "f") + fragment(RecordType::kMiddle, "g"));
  CHECK(torn.status.ok());
  CHECK(torn.torn);
  CHECK(torn.records == std::vector<std::string>{"ok"});
}

TEST_CASE("wal: a length past the block is corruption even in the last block") {
  std::string bytes = fragment(wal::RecordType::kFull, "abc");
  uint16_t length = kBlockBytes;  // more than any block holds
  bytes[4] = static_cast<char>(length & 0xff);
  bytes[5] = static_cast<char>(length >> 8);
  bytes[7] = static_cast<char>(wal::header_check(length, bytes[6]));
  Replay r = replay(bytes);
  CHECK(r.status.code() == StatusCode::kCorruption);
}

}  // namespace
}  // namespace weaseldb::storage
