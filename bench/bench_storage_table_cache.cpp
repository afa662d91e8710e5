// The table cache's cost on the read path (src/storage/table_cache.hpp): point lookups in a
// table on disk with the block cache off, so every lookup reads a block from the file.
//   Pinned:   the table owns its descriptor (the engine before max_open_files; the peer).
//   Cached:   the descriptor is leased from a TableCache that holds it (a cache hit).
//   Evicting: two tables share a cache of one handle, so every read reopens its file (a
//             max_open_files far below the working set).
// Run: build/release/bench_storage_table_cache --benchmark_repetitions=5
//      --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <unistd.h>

#include "storage/file.hpp"
#include "storage/internal_key.hpp"
#include "storage/manifest.hpp"
#include "storage/table.hpp"
#include "storage/table_builder.hpp"
#include "storage/table_cache.hpp"

namespace weaseldb::storage {
namespace {

constexpr uint64_t kKeys = 20000;

std::string key_of(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "key%08llu", static_cast<unsigned long long>(i));
  return buf;
}

// Writes a table of kKeys keys with 100-byte values to `path` (4 KiB blocks, no filter).
void write_table(const std::string& path) {
  auto file = open_writable_file(path);
  if (!file.ok()) std::abort();
  TableOptions options;
  options.block_bytes = 4096;
  options.bloom_bits_per_key = 0;
  TableBuilder builder(options, file.value().get());
  std::string ikey;
  for (uint64_t i = 0; i < kKeys; ++i) {
    ikey.clear();
    append_internal_key(&ikey, key_of(i), i + 1, ValueType::kValue);
    builder.add(ikey, std::string(100, 'v'));
  }
  if (!builder.finish().ok() || !file.value()->close().ok()) std::abort();
}

struct Fixture {
  std::string dir;
  std::string paths[2];
  Fixture() {
    char pattern[] = "/tmp/weasel_bench_tc_XXXXXX";
    if (::mkdtemp(pattern) == nullptr) std::abort();
    dir = pattern;
    for (int i = 0; i < 2; ++i) {
      paths[i] = dir + "/" + table_name(static_cast<uint64_t>(i + 1));
      write_table(paths[i]);
    }
  }
  ~Fixture() {
    for (const std::string& p : paths) (void)remove_file(p);
    ::rmdir(dir.c_str());
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void lookups(benchmark::State& state, const std::shared_ptr<const Table>* tables, int count) {
  std::mt19937_64 rng(42);
  std::string value;
  BlockReadOptions read{true, false};
  uint64_t i = 0;
  for (auto _ : state) {
    LookupKey key(key_of(rng() % kKeys), kMaxSequenceNumber);
    auto r = tables[i++ % count]->get(key, read, &value);
    if (!r.ok() || r.value().kind != LookupResult::Kind::kValue) std::abort();
    benchmark::DoNotOptimize(value);
  }
}

void BM_TableGet_Pinned(benchmark::State& state) {
  auto file = open_random_access_file(fixture().paths[0]);
  auto table = Table::open(std::move(file).value(), "pinned");
  if (!table.ok()) std::abort();
  lookups(state, &table.value(), 1);
}

void BM_TableGet_Cached(benchmark::State& state) {
  TableContext context;
  context.files = std::make_shared<TableCache>(posix_file_system(), 1000);
  auto table = Table::open_file(context, fixture().paths[0], "cached", 1);
  if (!table.ok()) std::abort();
  lookups(state, &table.value(), 1);
}

void BM_TableGet_Evicting(benchmark::State& state) {
  TableContext context;
  context.files = std::make_shared<TableCache>(posix_file_system(), 1);
  std::shared_ptr<const Table> tables[2];
  for (int i = 0; i < 2; ++i) {
    auto t = Table::open_file(context, fixture().paths[i], "evicting", 1);
    if (!t.ok()) std::abort();
    tables[i] = std::move(t).value();
  }
  lookups(state, tables, 2);
}

BENCHMARK(BM_TableGet_Pinned);
BENCHMARK(BM_TableGet_Cached);
BENCHMARK(BM_TableGet_Evicting);

}  // namespace
}  // namespace weaseldb::storage

BENCHMARK_MAIN();
