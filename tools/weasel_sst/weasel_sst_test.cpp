// weasel_sst on tables and a manifest the engine wrote: the dump shows the entries with
// their internal key parts, --verify passes on a sound table and fails (exit 1) on a damaged
// one, usage errors exit 2.

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "storage/file.hpp"
#include "tests/temp_dir.hpp"
#include "weasel_sst/sst_dump.hpp"
#include "weaseldb/storage.hpp"

namespace weaseldb::tools {
namespace {

struct Run {
  int code = 0;
  std::string out;
  std::string err;
};

Run run(std::vector<std::string_view> args) {
  char* out_buf = nullptr;
  char* err_buf = nullptr;
  size_t out_len = 0, err_len = 0;
  std::FILE* out = open_memstream(&out_buf, &out_len);
  std::FILE* err = open_memstream(&err_buf, &err_len);
  REQUIRE(out != nullptr);
  REQUIRE(err != nullptr);
  Run r;
  r.code = run_weasel_sst(args, out, err);
  std::fclose(out);
  std::fclose(err);
  r.out.assign(out_buf, out_len);
  r.err.assign(err_buf, err_len);
  std::free(out_buf);
  std::free(err_buf);
  return r;
}

// A database with one table holding values, a deletion and a range tombstone.
std::string make_table(const std::string& dir) {
  storage::Options options;
  options.compression = storage::Compression::kNone;
  auto db = storage::DB::open(options, dir);
  REQUIRE(db.ok());
  for (int i = 0; i < 50; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "key%03d", i);
    REQUIRE(db.value()->put({}, key, std::string(10 + i, 'v')).ok());
  }
  REQUIRE(db.value()->put({}, std::string("bin\x01\xff", 5), "x").ok());
  REQUIRE(db.value()->del({}, "key007").ok());
  REQUIRE(db.value()->delete_range({}, "key040", "key045").ok());
  REQUIRE(db.value()->flush().ok());
  REQUIRE(db.value()->close().ok());
  auto names = storage::list_dir(dir);
  REQUIRE(names.ok());
  for (const std::string& name : names.value()) {
    if (name.ends_with(".sst")) return dir + "/" + name;
  }
  FAIL("no table written");
  return {};
}

TEST_CASE("weasel_sst: dumps a table the engine wrote") {
  weasel::test::TempDir dir;
  std::string table = make_table(dir.path());
  Run r = run({table});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("footer: format_version=1") != std::string::npos);
  CHECK(r.out.find("index:") != std::string::npos);
  CHECK(r.out.find("'key000' seq=1 type=value -> 'vvvvvvvvvv'") != std::string::npos);
  CHECK(r.out.find("'key007' seq=52 type=deletion") != std::string::npos);
  CHECK(r.out.find("'bin\\x01\\xff' seq=51 type=value") != std::string::npos);
  CHECK(r.out.find("['key040', 'key045') seq=53") != std::string::npos);
  CHECK(r.out.find("  entries: 52\n") != std::string::npos);
  CHECK(r.out.find("  entries_deletion: 1\n") != std::string::npos);
  CHECK(r.out.find("  range_tombstones: 1\n") != std::string::npos);
  CHECK(r.out.find("  blocks_none: 1\n") != std::string::npos);

  Run hex = run({"--key-hex", table});
  REQUIRE(hex.code == 0);
  CHECK(hex.out.find("'62696e01ff' seq=51") != std::string::npos);  // "bin\x01\xff"

  Run verify = run({"--verify", table});
  REQUIRE(verify.code == 0);
  CHECK(verify.out.find("OK ") == 0);
  CHECK(verify.out.find("52 entries") != std::string::npos);
}

TEST_CASE("weasel_sst: dumps the manifest, by directory or by file") {
  weasel::test::TempDir dir;
  std::string table = make_table(dir.path());
  std::string name = table.substr(table.rfind('/') + 1);
  for (const std::string& path : {dir.path(), dir.sub("MANIFEST")}) {
    Run r = run({path});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("last_sequence: 53") != std::string::npos);
    CHECK(r.out.find("level 0: 1 files") != std::string::npos);
    CHECK(r.out.find("  " + name + " ") != std::string::npos);
    CHECK(r.out.find("['bin\\x01\\xff' seq=51 type=value .. ") != std::string::npos);
  }
}

TEST_CASE("weasel_sst: a damaged table exits 1, usage errors exit 2") {
  weasel::test::TempDir dir;
  std::string table = make_table(dir.path());
  std::string bytes;
  {
    std::ifstream in(table, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[20] = static_cast<char>(bytes[20] ^ 0x10);  // inside the first data block
  std::string damaged = dir.sub("000999.sst");
  {
    std::ofstream out(damaged, std::ios::binary);
    out << bytes;
  }
  Run r = run({"--verify", damaged});
  CHECK(r.code == 1);
  CHECK(r.err.find("corruption") != std::string::npos);
  CHECK(r.err.find("000999.sst") != std::string::npos);
  CHECK(run({damaged}).code == 1);
  CHECK(run({dir.sub("missing.sst")}).code == 1);

  CHECK(run({}).code == 2);
  CHECK(run({"--bogus", table}).code == 2);
  CHECK(run({table, table}).code == 2);
  CHECK(run({"--key-file"}).code == 2);
  Run help = run({"--help"});
  CHECK(help.code == 0);
  CHECK(help.out.find("usage: weasel_sst") == 0);
}

}  // namespace
}  // namespace weaseldb::tools
