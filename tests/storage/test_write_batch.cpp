// WriteBatch serialization and internal keys.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "storage/internal_key.hpp"
#include "storage_test_util.hpp"
#include "weaseldb/write_batch.hpp"

namespace weaseldb::storage {
namespace {

struct Recorder final : WriteBatch::Handler {
  std::vector<std::string> ops;
  void put(std::string_view k, std::string_view v) override {
    ops.push_back("put(" + std::string(k) + "," + std::string(v) + ")");
  }
  void del(std::string_view k) override { ops.push_back("del(" + std::string(k) + ")"); }
  void delete_range(std::string_view b, std::string_view e) override {
    ops.push_back("delete_range(" + std::string(b) + "," + std::string(e) + ")");
  }
};

TEST_CASE("write batch: operations come back in order, also through set_rep") {
  WriteBatch batch;
  CHECK(batch.empty());
  batch.put("k1", "v1");
  batch.del("k2");
  batch.delete_range("a", "z");
  batch.put("", "");
  batch.set_sequence(77);
  CHECK(batch.count() == 4);
  CHECK(batch.sequence() == 77);

  std::vector<std::string> expected = {"put(k1,v1)", "del(k2)", "delete_range(a,z)", "put(,)"};
  Recorder r;
  REQUIRE(batch.iterate(r).ok());
  CHECK(r.ops == expected);

  WriteBatch copy;
  REQUIRE(copy.set_rep(batch.rep()).ok());
  CHECK(copy.sequence() == 77);
  Recorder r2;
  REQUIRE(copy.iterate(r2).ok());
  CHECK(r2.ops == expected);

  batch.clear();
  CHECK(batch.empty());
  CHECK(batch.byte_size() == WriteBatch::kHeaderBytes);
}

TEST_CASE("write batch: every truncation and a bad type or count are corruption") {
  WriteBatch batch;
  batch.put("key", "value");
  batch.delete_range("b", "c");
  std::string rep(batch.rep());
  for (size_t n = 0; n < rep.size(); ++n) {
    WriteBatch broken;
    broken.put("left", "over");
    INFO("truncated to " << n);
    CHECK(broken.set_rep(rep.substr(0, n)).code() == StatusCode::kCorruption);
    CHECK(broken.empty());  // a failed set_rep leaves nothing half-parsed
  }
  std::string bad_type = rep;
  bad_type[WriteBatch::kHeaderBytes] = 9;
  WriteBatch b1;
  CHECK(b1.set_rep(bad_type).code() == StatusCode::kCorruption);
  std::string bad_count = rep;
  bad_count[8] = 3;
  WriteBatch b2;
  CHECK(b2.set_rep(bad_count).code() == StatusCode::kCorruption);
}

using test::ikey;

TEST_CASE("internal keys: user key ascending, then newest first") {
  std::vector<std::string> ordered = {
      ikey("", 5, ValueType::kValue),
      ikey("a", 9, ValueType::kValue),
      ikey("a", 9, ValueType::kDeletion),
      ikey("a", 3, ValueType::kRangeDeletion),
      ikey("a", 3, ValueType::kValue),
      ikey(std::string("a\0", 2), 100, ValueType::kValue),
      ikey("b", kMaxSequenceNumber, ValueType::kValue),
      ikey("b", 0, ValueType::kValue),
  };
  for (size_t i = 0; i + 1 < ordered.size(); ++i) {
    INFO(i);
    CHECK(compare_internal_keys(ordered[i], ordered[i + 1]) < 0);
    CHECK(compare_internal_keys(ordered[i + 1], ordered[i]) > 0);
    CHECK(compare_internal_keys(ordered[i], ordered[i]) == 0);
  }
  ParsedInternalKey parsed;
  REQUIRE(parse_internal_key(ordered[3], &parsed));
  CHECK(parsed.user_key == "a");
  CHECK(parsed.sequence == 3);
  CHECK(parsed.type == ValueType::kRangeDeletion);
  CHECK_FALSE(parse_internal_key("short", &parsed));
  std::string bad = ikey("x", 1, ValueType::kValue);
  bad[1] = 7;  // unknown type in the trailer's low byte
  CHECK_FALSE(parse_internal_key(bad, &parsed));

  LookupKey lookup("a", 9);
  CHECK(compare_internal_keys(lookup.internal_key(), ordered[1]) <= 0);
  CHECK(compare_internal_keys(lookup.internal_key(), ordered[0]) > 0);
  LookupKey long_lookup(std::string(1000, 'k'), 1);
  CHECK(long_lookup.user_key() == std::string(1000, 'k'));
}

TEST_CASE("internal keys: separators are short and stay between their bounds") {
  std::vector<std::pair<std::string, std::string>> pairs = {
      {"abcdefgh", "abzz"}, {"abc", "abcdef"}, {"a\xff\xff", "b"}, {"x", "y"}, {"", "a"}};
  for (const auto& pair : pairs) {
    const std::string& lo = pair.first;  // not a structured binding: INFO captures it
    const std::string& hi = pair.second;
    std::string start = ikey(lo, 10, ValueType::kValue);
    std::string limit = ikey(hi, 20, ValueType::kValue);
    std::string sep = start;
    shorten_separator(&sep, limit);
    INFO(lo << " .. " << hi);
    CHECK(compare_internal_keys(start, sep) <= 0);
    CHECK(compare_internal_keys(sep, limit) < 0);
    CHECK(sep.size() <= start.size());
  }
  std::string k = ikey("abc", 5, ValueType::kValue);
  std::string succ = k;
  shorten_successor(&succ);
  CHECK(compare_internal_keys(k, succ) <= 0);
  CHECK(extract_user_key(succ) == "b");
}

}  // namespace
}  // namespace weaseldb::storage
