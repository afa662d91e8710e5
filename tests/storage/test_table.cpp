// SSTables: build and read back with every compression, point lookups at sequences, range
// tombstones, real files, and a damaged byte anywhere detected.

#include <doctest/doctest.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

// The portable XXH3, compiled here, to check the dispatched one against.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "storage/block_builder.hpp"
#include "storage/block_cache.hpp"
#include "storage/file.hpp"
#include "storage/internal_key.hpp"
#include "storage/table.hpp"
#include "storage/table_builder.hpp"
#include "storage/table_format.hpp"
#include "storage_test_util.hpp"

namespace weaseldb::storage {
namespace {

struct Entry {
  std::string ikey;
  std::string value;
};

std::string user_key(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "k%06llu", static_cast<unsigned long long>(i));
  return buf;
}

// Keys k000000.. with 1-3 versions each (some deletions), in internal-key order.
std::vector<Entry> make_entries(size_t keys, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Entry> out;
  SequenceNumber s = 10000;
  for (uint64_t i = 0; i < keys; ++i) {
    size_t versions = 1 + rng() % 3;
    for (size_t v = 0; v < versions; ++v) {
      bool del = rng() % 7 == 0;
      Entry e;
      append_internal_key(&e.ikey, user_key(i * 2), s--, del ? ValueType::kDeletion : ValueType::kValue);
      if (!del) e.value = test::compressible_bytes(rng, rng() % 100);
      out.push_back(std::move(e));
    }
  }
  return out;
}

TableOptions small_blocks(Compression c) {
  TableOptions o;
  o.block_bytes = 2048;
  o.restart_interval = 8;
  o.compression = c;
  return o;
}

std::string build_table(const std::vector<Entry>& entries, const TableOptions& options,
                        bool with_tombstones = true) {
  StringWritableFile file;
  TableBuilder builder(options, &file);
  for (const Entry& e : entries) builder.add(e.ikey, e.value);
  if (with_tombstones) {
    std::string begin;
    append_internal_key(&begin, user_key(10), 20000, ValueType::kRangeDeletion);
    builder.add_range_tombstone(begin, user_key(20));
    begin.clear();
    append_internal_key(&begin, user_key(15), 5, ValueType::kRangeDeletion);
    builder.add_range_tombstone(begin, user_key(40));
  }
  REQUIRE(builder.finish().ok());
  CHECK(builder.entries() == entries.size());
  CHECK(builder.file_bytes() == file.size());
  return file.contents();
}

std::shared_ptr<const Table> open_bytes(const std::string& bytes) {
  auto table = Table::open(std::make_unique<StringRandomAccessFile>(bytes), "test.sst");
  REQUIRE(table.ok());
  return table.value();
}

void check_scan(const Table& table, const std::vector<Entry>& entries) {
  auto it = table.new_iterator({});
  it->seek_to_first();
  for (const Entry& e : entries) {
    REQUIRE(it->valid());
    REQUIRE(it->key() == e.ikey);
    REQUIRE(it->value() == e.value);
    it->next();
  }
  CHECK_FALSE(it->valid());
  CHECK(it->status().ok());
  it->seek_to_last();
  for (auto e = entries.rbegin(); e != entries.rend(); ++e) {
    REQUIRE(it->valid());
    REQUIRE(it->key() == e->ikey);
    it->prev();
  }
  CHECK_FALSE(it->valid());
  CHECK(it->status().ok());
}

TEST_CASE("table: every compression reads back entries, lookups and seeks") {
  auto entries = make_entries(800, 1);
  for (Compression c : {Compression::kNone, Compression::kLz4, Compression::kZstd,
                        Compression::kSnappy}) {
    INFO("compression " << static_cast<int>(c));
    std::string bytes = build_table(entries, small_blocks(c));
    if (c != Compression::kNone) {
      CHECK(bytes.size() < build_table(entries, small_blocks(Compression::kNone)).size());
    }
    auto table = open_bytes(bytes);
    check_scan(*table, entries);

    // get() at the newest and at each older version, and for absent keys.
    std::string value;
    for (size_t i = 0; i < entries.size(); ++i) {
      ParsedInternalKey p;
      REQUIRE(parse_internal_key(entries[i].ikey, &p));
      auto r = table->get(LookupKey(p.user_key, p.sequence), {}, &value);
      REQUIRE(r.ok());
      CHECK(r.value().sequence == p.sequence);
      if (p.type == ValueType::kValue) {
        REQUIRE(r.value().kind == LookupResult::Kind::kValue);
        CHECK(value == entries[i].value);
      } else {
        CHECK(r.value().kind == LookupResult::Kind::kDeleted);
      }
    }
    auto absent = table->get(LookupKey(user_key(7), kMaxSequenceNumber), {}, &value);
    REQUIRE(absent.ok());
    CHECK(absent.value().kind == LookupResult::Kind::kNotFound);
    auto too_old = table->get(LookupKey(user_key(0), 1), {}, &value);
    REQUIRE(too_old.ok());
    CHECK(too_old.value().kind == LookupResult::Kind::kNotFound);
    auto past_end = table->get(LookupKey("zzz", kMaxSequenceNumber), {}, &value);
    REQUIRE(past_end.ok());
    CHECK(past_end.value().kind == LookupResult::Kind::kNotFound);

    auto it = table->new_iterator({});
    LookupKey odd(user_key(101), kMaxSequenceNumber);  // between k000100 and k000102
    it->seek(odd.internal_key());
    REQUIRE(it->valid());
    CHECK(extract_user_key(it->key()) == user_key(102));
  }
}

TEST_CASE("table: range tombstones and the bloom filter") {
  auto entries = make_entries(100, 2);
  std::string bytes = build_table(entries, small_blocks(Compression::kLz4));
  auto table = open_bytes(bytes);  // borrows the bytes
  CHECK(table->range_tombstone_count() == 2);
  CHECK(table->covering_tombstone(user_key(9), kMaxSequenceNumber) == 0);
  CHECK(table->covering_tombstone(user_key(10), kMaxSequenceNumber) == 20000);
  CHECK(table->covering_tombstone(user_key(16), kMaxSequenceNumber) == 20000);
  CHECK(table->covering_tombstone(user_key(16), 19999) == 5);
  CHECK(table->covering_tombstone(user_key(20), kMaxSequenceNumber) == 5);
  CHECK(table->covering_tombstone(user_key(40), kMaxSequenceNumber) == 0);
  auto it = table->new_range_tombstone_iterator();
  it->seek_to_first();
  REQUIRE(it->valid());
  CHECK(it->value() == user_key(20));

  int filtered = 0;
  for (uint64_t i = 0; i < 1000; ++i) filtered += !table->may_contain(user_key(2 * i + 1));
  CHECK(filtered > 950);
  for (uint64_t i = 0; i < 100; ++i) CHECK(table->may_contain(user_key(2 * i)));

  TableOptions no_filter = small_blocks(Compression::kNone);
  no_filter.bloom_bits_per_key = 0;
  std::string plain_bytes = build_table(entries, no_filter, false);
  auto plain = open_bytes(plain_bytes);
  CHECK(plain->may_contain(user_key(1)));
  CHECK(plain->range_tombstone_count() == 0);
  auto none = plain->new_range_tombstone_iterator();
  none->seek_to_first();
  CHECK_FALSE(none->valid());
  check_scan(*plain, entries);
}

TEST_CASE("table: an empty table and a table on a real file") {
  std::string empty_bytes = build_table({}, small_blocks(Compression::kNone), false);
  auto empty = open_bytes(empty_bytes);
  auto it = empty->new_iterator({});
  it->seek_to_first();
  CHECK_FALSE(it->valid());
  CHECK(it->status().ok());

  test::TempDir dir;
  auto entries = make_entries(3000, 3);
  {
    auto file = open_writable_file(dir.sub("000005.sst"));
    REQUIRE(file.ok());
    TableOptions options;  // the defaults: 16 KiB blocks
    options.compression = Compression::kZstd;
    TableBuilder builder(options, file.value().get());
    for (const Entry& e : entries) builder.add(e.ikey, e.value);
    REQUIRE(builder.finish().ok());
    REQUIRE(file.value()->sync().ok());
    REQUIRE(file.value()->close().ok());
  }
  auto file = open_random_access_file(dir.sub("000005.sst"));
  REQUIRE(file.ok());
  auto table = Table::open(std::move(file).value(), "000005.sst");
  REQUIRE(table.ok());
  check_scan(*table.value(), entries);
}

// Each thread reads stored blocks into one buffer it keeps (table_format.cpp): blocks of very
// different sizes and compressions, read one after another on real files, must all come back
// whole, whether the kept buffer is larger than a block (an uncompressed block is then copied
// out of it) or too small (it grows), or a block is too large to be kept at all.
TEST_CASE("table: blocks of very different sizes read back through the thread's read buffer") {
  test::TempDir dir;
  auto entries = make_entries(3000, 11);  // ~6,000 entries, ~400 KiB
  int n = 0;
  auto write_and_scan = [&](size_t block_bytes, Compression compression) {
    CAPTURE(block_bytes);
    CAPTURE(static_cast<int>(compression));
    std::string name = dir.sub("00001" + std::to_string(n++) + ".sst");
    {
      auto file = open_writable_file(name);
      REQUIRE(file.ok());
      TableOptions options;
      options.block_bytes = block_bytes;
      options.compression = compression;
      TableBuilder builder(options, file.value().get());
      for (const Entry& e : entries) builder.add(e.ikey, e.value);
      REQUIRE(builder.finish().ok());
      REQUIRE(file.value()->close().ok());
    }
    auto file = open_random_access_file(name);
    REQUIRE(file.ok());
    auto table = Table::open(std::move(file).value(), name);
    REQUIRE(table.ok());
    check_scan(*table.value(), entries);
    std::string value;
    for (size_t i = 0; i < entries.size(); i += 97) {
      ParsedInternalKey parsed;
      REQUIRE(parse_internal_key(entries[i].ikey, &parsed));
      LookupKey key(parsed.user_key, parsed.sequence);
      auto got = table.value()->get(key, {}, &value);
      REQUIRE(got.ok());
      if (parsed.type == ValueType::kValue) {
        REQUIRE(got.value().kind == LookupResult::Kind::kValue);
        CHECK(value == entries[i].value);
      }
    }
  };
  write_and_scan(size_t{128} << 10, Compression::kLz4);  // the kept buffer grows
  write_and_scan(1024, Compression::kNone);               // blocks copied out of it
  write_and_scan(size_t{400} << 10, Compression::kNone);  // too large to keep
  write_and_scan(size_t{400} << 10, Compression::kLz4);
  write_and_scan(4096, Compression::kZstd);
  write_and_scan(16384, Compression::kNone);
}

// Block checksums are XXH3-64 of the stored bytes seeded with the compression type. The
// library's runtime-dispatched XXH3 computes them (block_checksum.cpp): it must give the same
// bits as the portable code that wrote every existing table, at every length class.
TEST_CASE("table: block checksums are the stored format's XXH3 at every length") {
  std::mt19937_64 rng(17);
  for (size_t size : {0, 1, 3, 16, 17, 128, 129, 240, 241, 1000, 1024, 8191, 16384, 70001}) {
    std::string bytes = test::random_bytes(rng, size);
    for (uint8_t type = 0; type < 4; ++type) {
      CAPTURE(size);
      CHECK(block_checksum(bytes, type) ==
            XXH3_64bits_withSeed(bytes.data(), bytes.size(), type));
    }
  }
}

TEST_CASE("table: a damaged byte anywhere is reported as corruption") {
  auto entries = make_entries(120, 4);
  for (Compression c : {Compression::kNone, Compression::kLz4}) {
    std::string bytes = build_table(entries, small_blocks(c));
    INFO("compression " << static_cast<int>(c) << ", " << bytes.size() << " bytes");
    for (size_t offset = 0; offset < bytes.size(); ++offset) {
      std::string damaged = bytes;
      damaged[offset] = static_cast<char>(damaged[offset] ^ 0x04);
      auto table = Table::open(std::make_unique<StringRandomAccessFile>(damaged), "bad.sst");
      INFO("damaged byte at " << offset);
      if (!table.ok()) {
        REQUIRE(table.status().code() == StatusCode::kCorruption);
        continue;
      }
      // Metadata is intact: a data block is damaged. What comes before it is right.
      auto it = table.value()->new_iterator({});
      size_t n = 0;
      for (it->seek_to_first(); it->valid(); it->next()) {
        REQUIRE(n < entries.size());
        REQUIRE(it->key() == entries[n].ikey);
        REQUIRE(it->value() == entries[n].value);
        ++n;
      }
      REQUIRE(it->status().code() == StatusCode::kCorruption);
    }
  }
}

TEST_CASE("table: files that are not tables are rejected") {
  for (std::string bytes : {std::string(), std::string(10, 'x'), std::string(200, '\0')}) {
    auto table = Table::open(std::make_unique<StringRandomAccessFile>(bytes), "junk");
    CHECK(table.status().code() == StatusCode::kCorruption);
  }
}

}  // namespace
}  // namespace weaseldb::storage

namespace weaseldb::storage {
namespace {

TEST_CASE("block cache: tables share it, hits skip the file, LRU evicts past capacity") {
  auto entries = make_entries(400, 5);
  std::string bytes = build_table(entries, small_blocks(Compression::kLz4));
  TableContext context;
  context.cache = std::make_shared<BlockCache>(size_t{1} << 20);
  context.bytes_read = std::make_shared<std::atomic<uint64_t>>(0);
  auto table = Table::open(std::make_unique<StringRandomAccessFile>(bytes), "c.sst", context);
  REQUIRE(table.ok());
  check_scan(*table.value(), entries);
  uint64_t misses = context.cache->misses();
  uint64_t read = context.bytes_read->load();
  CHECK(misses > 0);
  CHECK(read > 0);
  check_scan(*table.value(), entries);  // now all from the cache
  CHECK(context.cache->misses() == misses);
  CHECK(context.cache->hits() > 0);
  CHECK(context.bytes_read->load() == read);

  // A second table never sees the first one's blocks (distinct ids, same offsets).
  std::string other_bytes = build_table(make_entries(400, 6), small_blocks(Compression::kLz4));
  auto other = Table::open(std::make_unique<StringRandomAccessFile>(other_bytes), "d.sst", context);
  REQUIRE(other.ok());
  check_scan(*other.value(), make_entries(400, 6));

  // fill_cache = false reads without caching.
  TableContext quiet{std::make_shared<BlockCache>(size_t{1} << 20), nullptr};
  auto t3 = Table::open(std::make_unique<StringRandomAccessFile>(bytes), "e.sst", quiet);
  REQUIRE(t3.ok());
  BlockReadOptions no_fill;
  no_fill.fill_cache = false;
  auto it = t3.value()->new_iterator(no_fill);
  for (it->seek_to_first(); it->valid(); it->next()) {
  }
  CHECK(quiet.cache->usage_bytes() == 0);

  BlockCache tiny(BlockCache::kShards * 3000);
  for (uint64_t offset = 0; offset < 200; ++offset) {
    BlockBuilder builder(16);
    std::string key;
    append_internal_key(&key, user_key(offset), 1, ValueType::kValue);
    builder.add(key, std::string(1000, 'v'));
    tiny.insert(7, offset, Block::parse(std::string(builder.finish())).value());
  }
  CHECK(tiny.usage_bytes() <= BlockCache::kShards * 3000);
  CHECK(tiny.lookup(7, 199) != nullptr);  // the newest survive
  CHECK(tiny.lookup(8, 199) == nullptr);
}

}  // namespace
}  // namespace weaseldb::storage
