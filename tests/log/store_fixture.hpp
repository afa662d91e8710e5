#pragma once
// A LocalLogStore in a scratch directory, filled with deterministic batches, for the store
// and recovery tests.

#include <memory>
#include <string>
#include <vector>

#include "log/local_log_store.hpp"
#include "log_test_util.hpp"

namespace weasel::test {

inline constexpr uint64_t kSmallSegmentBytes = 4096;

inline std::unique_ptr<LocalLogStore> open_store(const std::string& dir,
                                                 uint64_t segment_bytes = kSmallSegmentBytes,
                                                 FileOps* ops = nullptr, bool sync = true) {
  LocalLogStoreOptions options;
  options.directory = dir;
  options.segment_bytes = segment_bytes;
  options.file_ops = ops;
  options.sync = sync;
  Result<std::unique_ptr<LocalLogStore>> store = LocalLogStore::open(options);
  REQUIRE_MESSAGE(store.ok(), store.status().to_string());
  return std::move(store).value();
}

inline Status open_status(const std::string& dir, uint64_t segment_bytes = kSmallSegmentBytes) {
  LocalLogStoreOptions options;
  options.directory = dir;
  options.segment_bytes = segment_bytes;
  Result<std::unique_ptr<LocalLogStore>> store = LocalLogStore::open(options);
  if (store.ok()) return {};
  return store.status();
}

// Appends `count` batches of `txns` transactions each, versions advancing by `step`; returns
// them in order.
inline std::vector<std::string> fill(LogStore& store, int count, uint32_t txns = 2,
                                     uint64_t step = 1) {
  std::vector<std::string> batches;
  for (int i = 0; i < count; ++i) {
    batches.push_back(make_batch(store.latest_version(), txns, step));
    append_ok(store, batches.back());
  }
  return batches;
}

}  // namespace weasel::test
