// compact_tables() edge cases that the DB-level tests reach only by chance.

#include <doctest/doctest.h>

#include <atomic>

#include "storage/compaction.hpp"
#include "storage/internal_key.hpp"
#include "storage_test_util.hpp"

namespace weaseldb::storage {
namespace {

TEST_CASE("compaction: tombstones that end before the last output do not make an empty table") {
  test::TempDir dir;
  // One input: values a000..a009 (each fills a block), deletions z000..z009 that compaction
  // drops (visible to all, nothing deeper), and a kept tombstone [a000, a001) above the
  // snapshot. Every value ends a file, so the cut at z000 leaves only that tombstone, which
  // lies entirely before the cut, for a last file.
  std::string path = table_path(dir.path(), 1);
  {
    auto file = open_writable_file(path);
    REQUIRE(file.ok());
    TableOptions options;
    options.block_bytes = 256;
    TableBuilder builder(options, file.value().get(), 1);
    std::string ikey;
    for (int i = 0; i < 10; ++i) {
      ikey.clear();
      append_internal_key(&ikey, test::numbered("a00", i), 10, ValueType::kValue);
      builder.add(ikey, std::string(300, 'v'));
    }
    for (int i = 0; i < 10; ++i) {
      ikey.clear();
      append_internal_key(&ikey, test::numbered("z00", i), 5, ValueType::kDeletion);
      builder.add(ikey, "");
    }
    ikey.clear();
    append_internal_key(&ikey, "a000", 100, ValueType::kRangeDeletion);
    builder.add_range_tombstone(ikey, "a001");
    REQUIRE(builder.finish().ok());
    REQUIRE(file.value()->close().ok());
  }
  TableSink sink;
  sink.dir = dir.path();
  sink.options.block_bytes = 256;
  sink.context.files = std::make_shared<TableCache>(posix_file_system(), 16);
  uint64_t next = 2;
  sink.new_file_number = [&] { return next++; };
  auto input = Table::open_file(sink.context, path, table_name(1), 1);
  REQUIRE(input.ok());
  CompactionStats stats;
  auto outputs = compact_tables(sink, {input.value()}, 50, 1, DeeperOverlap(), &stats);
  REQUIRE_MESSAGE(outputs.ok(), outputs.status().to_string());
  CHECK(stats.dropped_entries == 10);
  REQUIRE(outputs.value().size() == 10);  // one per value, none for the tombstone alone
  for (const LiveTable& t : outputs.value()) {
    CHECK(!t.meta.smallest.empty());
    CHECK(!t.meta.largest.empty());
  }
  CHECK(outputs.value().front().table->range_tombstone_count() == 1);
}

TEST_CASE("compaction: a pending flush runs between entries, and an error from it stops") {
  test::TempDir dir;
  std::string path = table_path(dir.path(), 1);
  {
    auto file = open_writable_file(path);
    REQUIRE(file.ok());
    TableBuilder builder(TableOptions{}, file.value().get(), 1);
    std::string ikey;
    for (int i = 0; i < 100; ++i) {
      ikey.clear();
      append_internal_key(&ikey, test::numbered("k", 1000 + i), 10, ValueType::kValue);
      builder.add(ikey, "v");
    }
    REQUIRE(builder.finish().ok());
    REQUIRE(file.value()->close().ok());
  }
  TableSink sink;
  sink.dir = dir.path();
  sink.options.block_bytes = 64;  // with target_file_bytes 1: a new output every few keys
  sink.context.files = std::make_shared<TableCache>(posix_file_system(), 16);
  uint64_t next = 2;
  auto input = Table::open_file(sink.context, path, table_name(1), 1);
  REQUIRE(input.ok());
  // A memtable is sealed before the compaction and twice more while it runs (when it opens
  // its first two outputs): each time the flush runs once, before the next entry.
  std::atomic<bool> pending{true};
  sink.flush_pending = &pending;
  int flushes = 0;
  uint64_t entries_at_flush[3] = {};
  CompactionStats stats;
  sink.flush_between = [&] {
    REQUIRE(flushes < 3);
    entries_at_flush[flushes++] = stats.input_entries;
    pending = false;
    return Status();
  };
  // Sets the flag again as if writers sealed a memtable: through the file-number hook,
  // which compaction calls when it opens an output file.
  int outputs_opened = 0;
  sink.new_file_number = [&] {
    if (++outputs_opened <= 2) pending = true;
    return next++;
  };
  auto outputs = compact_tables(sink, {input.value()}, 50, 1, DeeperOverlap(), &stats);
  REQUIRE_MESSAGE(outputs.ok(), outputs.status().to_string());
  CHECK(flushes == 3);
  CHECK(entries_at_flush[0] == 0);  // before the first entry
  CHECK(entries_at_flush[1] == 1);  // the entry after the first output was opened
  CHECK(entries_at_flush[2] > 1);
  CHECK(outputs.value().size() > 2);
  CHECK(stats.input_entries == 100);

  // A failed flush fails the compaction.
  pending = true;
  outputs_opened = 3;
  sink.flush_between = [&] { return Status::io_error("flush failed"); };
  auto failed = compact_tables(sink, {input.value()}, 50, 1, DeeperOverlap(), &stats);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == StatusCode::kIoError);
}

}  // namespace
}  // namespace weaseldb::storage
