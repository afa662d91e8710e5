// Encryption at rest: the AES-256-GCM cipher, encrypted tables, and a whole database whose
// files never show the plaintext.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "db_test_util.hpp"
#include "storage/cipher.hpp"
#include "storage/file.hpp"
#include "storage/internal_key.hpp"
#include "storage/table.hpp"
#include "storage/table_builder.hpp"

namespace weaseldb::storage {
namespace {

std::array<uint8_t, Cipher::kKeyBytes> key_of(uint8_t seed) {
  std::array<uint8_t, Cipher::kKeyBytes> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(seed + i * 7);
  return key;
}

void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_CASE("cipher: seals, opens, and refuses a wrong key, context or byte") {
  Cipher cipher(key_of(1));
  std::string sealed, opened;
  REQUIRE(cipher.seal("attack at dawn", "ctx", &sealed).ok());
  CHECK(sealed.size() == 14 + Cipher::kOverheadBytes);
  CHECK(sealed.find("attack") == std::string::npos);
  REQUIRE(cipher.open(sealed, "ctx", &opened).ok());
  CHECK(opened == "attack at dawn");
  std::string again;
  REQUIRE(cipher.seal("attack at dawn", "ctx", &again).ok());
  CHECK(again != sealed);  // a fresh nonce every time
  CHECK(cipher.open(sealed, "other", &opened).code() == StatusCode::kCorruption);
  Cipher other(key_of(2));
  CHECK(other.open(sealed, "ctx", &opened).code() == StatusCode::kCorruption);
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string damaged = sealed;
    damaged[i] = static_cast<char>(damaged[i] ^ 1);
    REQUIRE(cipher.open(damaged, "ctx", &opened).code() == StatusCode::kCorruption);
  }
  CHECK(cipher.open("short", "ctx", &opened).code() == StatusCode::kCorruption);
  REQUIRE(cipher.seal("", "", &sealed).ok());
  REQUIRE(cipher.open(sealed, "", &opened).ok());
  CHECK(opened.empty());
}

TEST_CASE("cipher: key files hold 32 raw bytes or 64 hex digits") {
  test::TempDir dir;
  std::string raw(32, '\0');
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(i * 13);
  write_file(dir.sub("raw.key"), raw);
  std::string hex;
  for (unsigned char c : raw) {
    const char* digits = "0123456789abcdef";
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  write_file(dir.sub("hex.key"), hex + "\n");
  auto a = Cipher::from_key_file(dir.sub("raw.key"));
  auto b = Cipher::from_key_file(dir.sub("hex.key"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  std::string sealed, opened;
  REQUIRE(a.value()->seal("same key", "", &sealed).ok());
  REQUIRE(b.value()->open(sealed, "", &opened).ok());  // both spellings, one key
  write_file(dir.sub("bad.key"), "not a key");
  CHECK(Cipher::from_key_file(dir.sub("bad.key")).status().code() == StatusCode::kInvalidArgument);
  write_file(dir.sub("badhex.key"), std::string(64, 'g'));
  CHECK(Cipher::from_key_file(dir.sub("badhex.key")).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK_FALSE(Cipher::from_key_file(dir.sub("missing.key")).ok());
}

TEST_CASE("encrypted tables: read back with the key and file number, detect any damage") {
  auto cipher = std::make_shared<const Cipher>(key_of(3));
  TableOptions options;
  options.block_bytes = 512;
  options.compression = Compression::kLz4;
  options.cipher = cipher;
  StringWritableFile file;
  TableBuilder builder(options, &file, 42);
  std::vector<std::pair<std::string, std::string>> entries;
  for (int i = 0; i < 60; ++i) {
    std::string k;
    append_internal_key(&k, test::numbered("key", 100 + i), 9, ValueType::kValue);
    entries.emplace_back(k, test::numbered("secret-value-", i));
    builder.add(k, entries.back().second);
  }
  std::string begin;
  append_internal_key(&begin, "key120", 10, ValueType::kRangeDeletion);
  builder.add_range_tombstone(begin, "key125");
  REQUIRE(builder.finish().ok());
  std::string bytes = file.contents();
  CHECK(bytes.find("secret-value") == std::string::npos);
  CHECK(bytes.find("key1") == std::string::npos);

  TableContext with_key{nullptr, nullptr, cipher};
  auto table = Table::open(std::make_unique<StringRandomAccessFile>(bytes), "e.sst", with_key, 42);
  REQUIRE(table.ok());
  auto it = table.value()->new_iterator({});
  size_t n = 0;
  for (it->seek_to_first(); it->valid(); it->next(), ++n) {
    REQUIRE(it->key() == entries[n].first);
    REQUIRE(it->value() == entries[n].second);
  }
  CHECK(n == entries.size());
  CHECK(table.value()->covering_tombstone("key121", 100) == 10);

  CHECK(Table::open(std::make_unique<StringRandomAccessFile>(bytes), "e.sst", {}, 42)
            .status()
            .code() == StatusCode::kInvalidArgument);
  CHECK(Table::open(std::make_unique<StringRandomAccessFile>(bytes), "e.sst", with_key, 43)
            .status()
            .code() == StatusCode::kCorruption);  // blocks are bound to their file
  TableContext wrong_key{nullptr, nullptr, std::make_shared<const Cipher>(key_of(4))};
  CHECK(Table::open(std::make_unique<StringRandomAccessFile>(bytes), "e.sst", wrong_key, 42)
            .status()
            .code() == StatusCode::kCorruption);

  for (size_t offset = 0; offset < bytes.size(); ++offset) {
    std::string damaged = bytes;
    damaged[offset] = static_cast<char>(damaged[offset] ^ 0x10);
    auto t = Table::open(std::make_unique<StringRandomAccessFile>(damaged), "e.sst", with_key, 42);
    INFO("damaged byte at " << offset);
    if (!t.ok()) {
      REQUIRE(t.status().code() == StatusCode::kCorruption);
      continue;
    }
    auto walk = t.value()->new_iterator({});
    size_t seen = 0;
    for (walk->seek_to_first(); walk->valid(); walk->next(), ++seen) {
      REQUIRE(walk->key() == entries[seen].first);
    }
    REQUIRE(walk->status().code() == StatusCode::kCorruption);
  }
}

TEST_CASE("encrypted database: no plaintext on disk, and the key is required") {
  test::TempDir dir;
  std::string key(64, 'a');
  write_file(dir.sub("db.key"), key);
  Options options = test::small_options();
  options.encryption_key_file = dir.sub("db.key");
  options.l0_compaction_trigger = 2;
  test::Model model;
  {
    auto db = test::open_db(dir.sub("db"), options);
    for (int i = 0; i < 2000; ++i) {
      std::string k = test::numbered("plainkey", i % 500);
      std::string v = test::numbered("plainvalue", i);
      REQUIRE(db->put({}, k, v).ok());
      model[k] = v;
    }
    REQUIRE(db->delete_range({}, "plainkey1", "plainkey2").ok());
    for (auto it = model.begin(); it != model.end();) {
      it = it->first >= "plainkey1" && it->first < "plainkey2" ? model.erase(it) : std::next(it);
    }
    REQUIRE(db->flush().ok());
    REQUIRE(db->put({}, "plainkey-in-wal", "plainvalue-in-wal").ok());  // stays in the WAL
    model["plainkey-in-wal"] = "plainvalue-in-wal";
    CHECK(db->statistics().table_files > 0);
    REQUIRE(db->close().ok());
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir.sub("db"))) {
    std::string bytes = read_file(entry.path());
    INFO(entry.path().filename().string());
    CHECK(bytes.find("plainkey") == std::string::npos);
    CHECK(bytes.find("plainvalue") == std::string::npos);
  }
  {
    auto db = test::open_db(dir.sub("db"), options);
    CHECK(test::scan(*db) == model);
    REQUIRE(db->close().ok());
  }
  Options no_key = options;
  no_key.encryption_key_file.clear();
  CHECK(DB::open(no_key, dir.sub("db")).status().code() == StatusCode::kInvalidArgument);
  write_file(dir.sub("other.key"), std::string(64, 'b'));
  Options other_key = options;
  other_key.encryption_key_file = dir.sub("other.key");
  CHECK(DB::open(other_key, dir.sub("db")).status().code() == StatusCode::kCorruption);
}

}  // namespace
}  // namespace weaseldb::storage
