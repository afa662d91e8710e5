// LocalLogStore with readers, truncation and metadata calls running concurrently with the
// appender (label "concurrency": the TSan build runs it). No sleeps and no timed waits:
// readers that caught up block on an atomic the appender bumps after each append.

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "store_fixture.hpp"

namespace weasel {
namespace {

using test::append_ok;
using test::header_of;
using test::make_batch;
using test::open_store;
using test::TempDir;

constexpr int kBatches = 400;
constexpr int kReaders = 3;

uint32_t transactions_for(int i) {
  return 1 + static_cast<uint32_t>(i % 3);
}

struct Shared {
  std::atomic<uint64_t> published{0};  // latest version whose append has completed
  uint64_t final_version = 0;          // set before the threads start
};

// The version after which the appender stops, computed the way the appender will advance.
uint64_t final_version_of(int batches) {
  uint64_t v = 0;
  for (int i = 0; i < batches; ++i) v += transactions_for(i);
  return v;
}

void run_appender(LocalLogStore& store, Shared& shared) {
  for (int i = 0; i < kBatches; ++i) {
    append_ok(store, make_batch(store.latest_version(), transactions_for(i)));
    shared.published.store(store.latest_version(), std::memory_order_release);
    shared.published.notify_all();
  }
}

struct ReaderLog {
  uint64_t batches = 0;
  uint64_t jumps = 0;  // log_truncated: restarted at the floor
  std::string error;   // first problem seen
};

// Follows the log from 0 to the final version. Every batch must chain onto the previous one
// and hold exactly what the appender wrote for its versions.
void run_reader(const LocalLogStore& store, Shared& shared, bool allow_truncation, ReaderLog& log) {
  uint64_t cursor = 0;
  while (cursor < shared.final_version && log.error.empty()) {
    uint64_t seen = shared.published.load(std::memory_order_acquire);
    uint64_t before = cursor;
    Result<uint64_t> next = store.read_after(cursor, 2000, [&](std::string_view b) {
      BatchHeader h = header_of(b);
      if (h.prev_version != cursor) {
        log.error = "gap or overlap: batch after " + std::to_string(h.prev_version) +
                    " read at cursor " + std::to_string(cursor);
        return false;
      }
      if (b != make_batch(h.prev_version, h.transaction_count)) {
        log.error = "unexpected content for batch after " + std::to_string(h.prev_version);
        return false;
      }
      cursor = h.last_version;
      log.batches += 1;
      return true;
    });
    if (!next.ok()) {
      if (allow_truncation && next.status().code() == StatusCode::kLogTruncated) {
        cursor = store.oldest_version();
        log.jumps += 1;
        continue;
      }
      log.error = next.status().to_string();
      break;
    }
    if (log.error.empty() && next.value() != cursor) log.error = "returned cursor differs";
    if (cursor == before && cursor < shared.final_version) {
      if (seen > cursor) {
        log.error = "version " + std::to_string(seen) + " was published but not readable";
        break;
      }
      shared.published.wait(seen, std::memory_order_acquire);
    }
  }
}

void run_metadata_user(LocalLogStore& store, int id, std::string& error) {
  for (int i = 0; i < 40 && error.empty(); ++i) {
    std::string key = "policy/" + std::to_string(id) + "/" + std::to_string(i % 5);
    if (!store.put_metadata(key, std::to_string(i)).ok()) error = "put failed";
    if (store.get_metadata(key) != std::optional<std::string>(std::to_string(i))) {
      error = "read back another value";
    }
    (void)store.list_metadata("policy/");
    (void)store.health();
    (void)store.bytes();
  }
}

TEST_CASE("concurrency: readers follow the appender without gap or duplicate") {
  TempDir dir;
  auto store = open_store(dir.path());
  Shared shared;
  shared.final_version = final_version_of(kBatches);
  std::vector<ReaderLog> logs(kReaders);
  std::string metadata_error;
  {
    std::vector<std::jthread> threads;
    for (int r = 0; r < kReaders; ++r) {
      threads.emplace_back([&, r] { run_reader(*store, shared, false, logs[r]); });
    }
    threads.emplace_back([&] { run_metadata_user(*store, 0, metadata_error); });
    threads.emplace_back([&] { run_appender(*store, shared); });
  }
  CHECK(store->latest_version() == shared.final_version);
  CHECK(store->segment_count() > 5);
  CHECK(metadata_error.empty());
  for (const ReaderLog& log : logs) {
    CHECK_MESSAGE(log.error.empty(), log.error);
    CHECK(log.batches == kBatches);
  }
}

TEST_CASE("concurrency: truncation while readers read and the appender appends") {
  TempDir dir;
  auto store = open_store(dir.path());
  Shared shared;
  shared.final_version = final_version_of(kBatches);
  std::vector<ReaderLog> logs(kReaders);
  std::string truncate_error, metadata_error;
  {
    std::vector<std::jthread> threads;
    for (int r = 0; r < kReaders; ++r) {
      threads.emplace_back([&, r] { run_reader(*store, shared, true, logs[r]); });
    }
    threads.emplace_back([&] {
      // Keeps roughly the last 100 versions, truncating whenever the appender moved on.
      uint64_t seen = 0;
      while (seen < shared.final_version && truncate_error.empty()) {
        shared.published.wait(seen, std::memory_order_acquire);
        seen = shared.published.load(std::memory_order_acquire);
        if (seen > 100) {
          Status s = store->truncate_before(seen - 100).status();
          if (!s.ok()) truncate_error = s.to_string();
          if (store->oldest_version() >= seen - 100 && store->segment_count() > 1) {
            truncate_error = "dropped a version at or after the truncation point";
          }
        }
      }
    });
    threads.emplace_back([&] { run_metadata_user(*store, 1, metadata_error); });
    threads.emplace_back([&] { run_appender(*store, shared); });
  }
  CHECK_MESSAGE(truncate_error.empty(), truncate_error);
  CHECK(metadata_error.empty());
  CHECK(store->oldest_version() > 0);
  CHECK(store->segment_count() < 5);
  for (const ReaderLog& log : logs) {
    CHECK_MESSAGE(log.error.empty(), log.error);
    CHECK(log.batches > 0);
  }
  CHECK(store->bytes() > 0);
}

}  // namespace
}  // namespace weasel
