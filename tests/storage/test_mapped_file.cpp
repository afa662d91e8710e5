// The mapped WAL file (src/storage/mapped_file.hpp): bytes across chunk boundaries, what a
// reader sees before close (the crash case: zeros after the records, read as a torn tail),
// and the size after close.

#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "storage/file.hpp"
#include "storage/mapped_file.hpp"
#include "storage/wal_reader.hpp"
#include "storage/wal_writer.hpp"
#include "tests/temp_dir.hpp"

namespace weaseldb::storage {
namespace {

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t page_bytes() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }

TEST_CASE("mapped file: appends across chunks, visible before close, cut to size by close") {
  weasel::test::TempDir dir;
  std::string path = dir.sub("f");
  size_t chunk = page_bytes();
  auto file = open_mapped_writable_file(path, chunk);
  REQUIRE(file.ok());
  std::string expected;
  for (int i = 0; i < 300; ++i) {
    std::string piece(static_cast<size_t>(i % 97) + 1, static_cast<char>('a' + i % 26));
    REQUIRE(file.value()->append(piece).ok());
    expected += piece;
  }
  REQUIRE(expected.size() > 3 * chunk);
  CHECK(file.value()->size() == expected.size());
  REQUIRE(file.value()->sync().ok());
  // Before close the file holds the bytes, then zeros up to the end of the reserved chunk.
  std::string open_contents = read_whole(path);
  REQUIRE(open_contents.size() % chunk == 0);
  REQUIRE(open_contents.size() >= expected.size());
  CHECK(open_contents.substr(0, expected.size()) == expected);
  CHECK(open_contents.find_first_not_of('\0', expected.size()) == std::string::npos);
  REQUIRE(file.value()->close().ok());
  CHECK(read_whole(path) == expected);
}

TEST_CASE("mapped file: a WAL left unclosed replays every record, then a torn tail") {
  weasel::test::TempDir dir;
  std::string path = dir.sub("000001.wal");
  auto file = open_mapped_writable_file(path, page_bytes());
  REQUIRE(file.ok());
  WalWriter writer(file.value().get());
  std::vector<std::string> records;
  for (int i = 0; i < 50; ++i) {
    records.push_back(std::string(static_cast<size_t>(i) * 37 + 1, static_cast<char>('A' + i % 26)));
    REQUIRE(writer.add_record(records.back()).ok());
  }
  // No close: what a killed process leaves (the mapping's pages are the kernel's).
  auto in = open_sequential_file(path);
  REQUIRE(in.ok());
  WalReader reader(in.value().get(), path);
  std::string_view record;
  size_t n = 0;
  while (reader.read_record(&record)) {
    REQUIRE(n < records.size());
    CHECK(record == records[n]);
    ++n;
  }
  CHECK(n == records.size());
  CHECK(reader.status().ok());
  REQUIRE(reader.torn_tail());
  CHECK(reader.torn_tail()->reason == "zeros up to the end of the file");
}

// Forwards to a file and counts the records built in place.
class CountingFile final : public WritableFile {
 public:
  explicit CountingFile(WritableFile* file) : file_(file) {}
  Status append(std::string_view bytes) override { return file_->append(bytes); }
  Status flush() override { return file_->flush(); }
  Status sync() override { return file_->sync(); }
  Status close() override { return file_->close(); }
  uint64_t size() const override { return file_->size(); }
  char* reserve(size_t n) override { return file_->reserve(n); }
  void commit_reserved(size_t n) override {
    ++commits;
    file_->commit_reserved(n);
  }
  size_t commits = 0;

 private:
  WritableFile* file_;
};

TEST_CASE("mapped file: two-part WAL records built in place are the bytes add_record writes") {
  weasel::test::TempDir dir;
  std::string path = dir.sub("000001.wal");
  // One-page chunks: most records fit in the mapped chunk (built in place), some would
  // cross into the next one, and some cross 32 KiB WAL blocks (both are appended).
  auto mapped = open_mapped_writable_file(path, page_bytes());
  REQUIRE(mapped.ok());
  CountingFile file(mapped.value().get());
  WalWriter in_place(&file);
  StringWritableFile expected_file;
  WalWriter expected(&expected_file);
  for (int i = 0; i < 400; ++i) {
    std::string head(static_cast<size_t>(i % 11), static_cast<char>('a' + i % 26));
    std::string tail(static_cast<size_t>(i * 53 % 1500), static_cast<char>('A' + i % 26));
    if (i == 7) tail.assign(40000, 'x');  // several fragments
    REQUIRE(in_place.add_record(head, tail).ok());
    REQUIRE(expected.add_record(head + tail).ok());
    REQUIRE(file.size() == expected_file.size());
  }
  CHECK(file.commits > 200);
  CHECK(file.commits < 400);
  REQUIRE(file.close().ok());
  CHECK(read_whole(path) == expected_file.contents());
}

TEST_CASE("mapped file: a chunk that is not a multiple of the page size is refused") {
  weasel::test::TempDir dir;
  auto file = open_mapped_writable_file(dir.sub("f"), page_bytes() + 1);
  REQUIRE_FALSE(file.ok());
  CHECK(file.status().code() == weasel::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace weaseldb::storage
