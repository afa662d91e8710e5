#pragma once
// Helpers for the DB tests: opening in a scratch directory, reading everything back.

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "storage_test_util.hpp"
#include "weaseldb/storage.hpp"

namespace weaseldb::storage::test {

inline Options small_options() {
  Options o;
  o.memtable_bytes = size_t{64} << 10;  // the minimum: memtables seal often
  o.block_bytes = 1024;
  o.compression = Compression::kLz4;
  o.durability = Durability::kNone;
  return o;
}

inline std::unique_ptr<DB> open_db(const std::string& path, const Options& options) {
  auto db = DB::open(options, path);
  REQUIRE_MESSAGE(db.ok(), db.status().to_string());
  return std::move(db).value();
}

using Model = std::map<std::string, std::string>;

// Everything an iterator yields, forward.
inline Model scan(DB& db, const ReadOptions& options = {}) {
  Model out;
  auto it = db.new_iterator(options);
  for (it->seek_to_first(); it->valid(); it->next()) {
    REQUIRE(out.emplace(std::string(it->key()), std::string(it->value())).second);
  }
  REQUIRE_MESSAGE(it->status().ok(), it->status().to_string());
  return out;
}

// Everything an iterator yields, backward, put back in order.
inline Model scan_backward(DB& db, const ReadOptions& options = {}) {
  std::vector<std::pair<std::string, std::string>> reversed;
  auto it = db.new_iterator(options);
  for (it->seek_to_last(); it->valid(); it->prev()) {
    reversed.emplace_back(std::string(it->key()), std::string(it->value()));
  }
  REQUIRE_MESSAGE(it->status().ok(), it->status().to_string());
  Model out;
  for (auto r = reversed.rbegin(); r != reversed.rend(); ++r) {
    if (!out.empty()) REQUIRE(out.rbegin()->first < r->first);
    out.emplace(r->first, r->second);
  }
  return out;
}

inline std::string get_or(DB& db, std::string_view key, const ReadOptions& options = {}) {
  std::string value;
  Status s = db.get(options, key, &value);
  if (s.code() == StatusCode::kNotFound) return "<none>";
  REQUIRE_MESSAGE(s.ok(), s.to_string());
  return value;
}

}  // namespace weaseldb::storage::test
