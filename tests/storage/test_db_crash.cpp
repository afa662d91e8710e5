// Crash recovery: a child process writes (flushes and compactions running) and reports each
// acknowledged write through a pipe; the parent kills it with SIGKILL after a number of
// acknowledgements, reopens the database and checks that every acknowledged write is there,
// in order, and nothing else but possibly the one write in flight. Several rounds continue
// on the same directory. Deterministic: the kill point is a count of acknowledgements read
// with blocking reads, never a time.

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "db_test_util.hpp"

namespace weaseldb::storage {
namespace {

std::string crash_key(uint64_t i) { return test::numbered("key", 1000000 + i); }

std::string crash_value(uint64_t i) {
  std::string v = test::numbered("value", i);
  v.resize(64 + i % 200, static_cast<char>('a' + i % 26));
  return v;
}

// The child: writes keys from `first` on, acknowledging each one; never returns.
[[noreturn]] void write_until_killed(const std::string& path, const Options& options,
                                     Durability durability, uint64_t first, int ack_fd) {
  auto db = DB::open(options, path);
  if (!db.ok()) _exit(3);
  WriteOptions w;
  w.durability = durability;
  for (uint64_t i = first; i < first + 1000000; ++i) {
    WriteBatch batch;
    batch.put(crash_key(i), crash_value(i));
    if (i % 97 == 0) {  // range tombstones through flushes and compactions; nothing there
      batch.delete_range(test::numbered("gone", i), test::numbered("gone", i + 1));
    }
    if (!db.value()->write(w, batch).ok()) _exit(4);
    if (::write(ack_fd, &i, sizeof(i)) != sizeof(i)) _exit(5);
  }
  _exit(6);
}

// Runs one child until `acks` writes are acknowledged, kills it; returns the last ack.
uint64_t crash_round(const std::string& path, const Options& options, Durability durability,
                     uint64_t first, uint64_t acks) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    write_until_killed(path, options, durability, first, fds[1]);
  }
  ::close(fds[1]);
  uint64_t last = 0;
  uint64_t received = 0;
  while (received < acks) {
    uint64_t i = 0;
    ssize_t n = ::read(fds[0], &i, sizeof(i));
    REQUIRE_MESSAGE(n == static_cast<ssize_t>(sizeof(i)), "the writer died early");
    REQUIRE(i == first + received);
    last = i;
    ++received;
  }
  REQUIRE(::kill(child, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  // Acknowledgements sent before the kill landed count too.
  uint64_t i = 0;
  while (::read(fds[0], &i, sizeof(i)) == static_cast<ssize_t>(sizeof(i))) last = i;
  ::close(fds[0]);
  return last;
}

TEST_CASE("db crash: every acknowledged write survives SIGKILL, in every durability mode") {
  test::TempDir dir;
  Options options = test::small_options();
  options.l0_compaction_trigger = 2;
  options.l0_stop_writes_trigger = 5;
  options.target_file_bytes = 64 << 10;
  uint64_t next = 0;
  const Durability modes[] = {Durability::kNone, Durability::kNone, Durability::kGroupSync,
                              Durability::kNone, Durability::kSyncEachWrite};
  uint64_t round = 0;
  for (Durability mode : modes) {
    ++round;
    INFO("round " << round);
    uint64_t acks = mode == Durability::kNone ? 900 + 137 * round : 60;
    uint64_t last_acked = crash_round(dir.sub("db"), options, mode, next, acks);
    auto db = test::open_db(dir.sub("db"), options);
    // Keys 0..last_acked are all there; at most the one write in flight follows.
    std::string value;
    for (uint64_t i = 0; i <= last_acked; ++i) {
      Status s = db->get({}, crash_key(i), &value);
      REQUIRE_MESSAGE(s.ok(), "key " << i << ": " << s.to_string());
      REQUIRE(value == crash_value(i));
    }
    bool in_flight = db->get({}, crash_key(last_acked + 1), &value).ok();
    CHECK(db->get({}, crash_key(last_acked + 2), &value).code() == StatusCode::kNotFound);
    uint64_t present = last_acked + 1 + (in_flight ? 1 : 0);
    CHECK(test::scan(*db).size() == present);
    CHECK(db->statistics().table_files > 0);  // the children flushed and compacted
    REQUIRE(db->close().ok());
    next = present;
  }
}

}  // namespace
}  // namespace weaseldb::storage
