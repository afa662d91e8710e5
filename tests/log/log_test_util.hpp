#pragma once
// Helpers shared by the log tests: a scratch directory, deterministic batches, reading a whole
// store back, and file byte surgery for recovery tests.

#include "tests/temp_dir.hpp"
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "log/log_format.hpp"
#include "log/log_store.hpp"

namespace weasel::test {


// What a test transaction holds, owned, so batches can be checked after decoding.
struct OwnedOperation {
  LogOperation::Type type = LogOperation::Type::kWrite;
  std::string key, value, end;
  bool end_is_infinite = false;
};

struct OwnedTransaction {
  uint64_t version = 0;
  int64_t timestamp_ms = 0;
  std::string request_id;
  std::vector<OwnedOperation> operations;
};

inline std::string encode_batch(BatchEncoder& encoder, uint64_t prev_version,
                                const std::vector<OwnedTransaction>& txns,
                                std::string_view leader_id = "leader-1") {
  encoder.begin(prev_version);
  std::vector<LogOperation> ops;
  for (const OwnedTransaction& t : txns) {
    ops.clear();
    for (const OwnedOperation& o : t.operations) {
      ops.push_back({o.type, o.key, o.value, o.end, o.end_is_infinite});
    }
    encoder.add({t.version, t.timestamp_ms, t.request_id, ops});
  }
  return std::string(encoder.finish(leader_id));
}

// A batch of `count` transactions with versions prev+step, prev+2*step, ... whose content
// derives from the versions, so any batch can be rebuilt and compared.
inline std::string make_batch(uint64_t prev_version, uint32_t count, uint64_t step = 1,
                              size_t value_bytes = 16) {
  std::vector<OwnedTransaction> txns;
  uint64_t v = prev_version;
  for (uint32_t i = 0; i < count; ++i) {
    v += step;
    OwnedTransaction t;
    t.version = v;
    t.timestamp_ms = 1'700'000'000'000 + static_cast<int64_t>(v);
    t.request_id = "req-" + std::to_string(v);
    t.operations.push_back({LogOperation::Type::kWrite, "key-" + std::to_string(v),
                            std::string(value_bytes, static_cast<char>('a' + v % 26)), "", false});
    t.operations.push_back(
        {LogOperation::Type::kDelete, "old-" + std::to_string(v), "", "", false});
    txns.push_back(std::move(t));
  }
  BatchEncoder encoder;
  return encode_batch(encoder, prev_version, txns);
}

inline BatchHeader header_of(std::string_view batch) {
  BatchDecodeResult r = BatchView::decode(batch);
  REQUIRE(r.status == DecodeStatus::kOk);
  return r.batch.header();
}

// Appends and requires success; local stores complete inside append().
inline void append_ok(LogStore& store, std::string_view batch) {
  int calls = 0;
  Status result = Status::io_error("done not called");
  store.append(batch, [&](const Status& s) {
    calls += 1;
    result = s;
  });
  REQUIRE(calls == 1);
  REQUIRE_MESSAGE(result.ok(), result.to_string());
}

inline Status append_status(LogStore& store, std::string_view batch) {
  int calls = 0;
  Status result;
  store.append(batch, [&](const Status& s) {
    calls += 1;
    result = s;
  });
  REQUIRE(calls == 1);
  return result;
}

// Every batch after `after_version`, following read_after's cursor; small max_bytes makes it
// take many calls.
inline std::vector<std::string> read_all(const LogStore& store, uint64_t after_version,
                                         size_t max_bytes = 1 << 20) {
  std::vector<std::string> batches;
  uint64_t cursor = after_version;
  for (int calls = 0;; ++calls) {
    REQUIRE(calls < 1'000'000);
    size_t before = batches.size();
    Result<uint64_t> next = store.read_after(cursor, max_bytes, [&](std::string_view b) {
      batches.emplace_back(b);
      return true;
    });
    REQUIRE_MESSAGE(next.ok(), next.status().to_string());
    if (batches.size() == before) {
      CHECK(next.value() == cursor);
      return batches;
    }
    CHECK(next.value() == header_of(batches.back()).last_version);
    cursor = next.value();
  }
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  REQUIRE(out.good());
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

inline std::vector<std::string> segment_names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".log")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace weasel::test
