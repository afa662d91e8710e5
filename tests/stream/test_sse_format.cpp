// Tests for src/stream/sse_format.hpp and output_queue.hpp: event text, the key filter,
// timestamps, and chunk framing with partial writes.
#include <doctest/doctest.h>

#include <string>

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream/output_queue.hpp"
#include "stream/sse_format.hpp"
#include "tests/log/log_test_util.hpp"

namespace weasel {
namespace {

LogOperation op(LogOperation::Type type, std::string_view key, std::string_view end = {},
                bool infinite = false) {
  return {type, key, "v", end, infinite};
}

}  // namespace

TEST_CASE("sse: RFC 3339 timestamps with milliseconds") {
  std::string out;
  append_rfc3339_ms(out, 0);
  CHECK(out == "1970-01-01T00:00:00.000Z");
  out.clear();
  append_rfc3339_ms(out, 1'795'255'200'123);  // 2026-11-21T10:00:00.123Z
  CHECK(out == "2026-11-21T10:00:00.123Z");
  out.clear();
  append_rfc3339_ms(out, 951'782'400'000 - 1);  // the millisecond before 2000-02-29
  CHECK(out == "2000-02-28T23:59:59.999Z");
  out.clear();
  append_rfc3339_ms(out, -1);
  CHECK(out == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("sse: the key filter selects operations touching [begin, end)") {
  CHECK(KeyFilter{}.touches(op(LogOperation::Type::kWrite, "anything")));
  KeyFilter f{true, std::string(1, 'm'), std::string(1, 'n'), false};
  CHECK(f.touches(op(LogOperation::Type::kWrite, "m")));
  CHECK(f.touches(op(LogOperation::Type::kDelete, "mzz")));
  CHECK_FALSE(f.touches(op(LogOperation::Type::kWrite, "n")));
  CHECK_FALSE(f.touches(op(LogOperation::Type::kWrite, "l")));
  CHECK(f.touches(op(LogOperation::Type::kRangeDelete, "a", "m0")));
  CHECK_FALSE(f.touches(op(LogOperation::Type::kRangeDelete, "a", "m")));  // [a, m) misses m
  CHECK(f.touches(op(LogOperation::Type::kRangeDelete, "mm", "z")));
  CHECK_FALSE(f.touches(op(LogOperation::Type::kRangeDelete, "n", "z")));
  CHECK(f.touches(op(LogOperation::Type::kRangeDelete, "a", "", true)));
  CHECK_FALSE(f.touches(op(LogOperation::Type::kRangeDelete, "n", "", true)));
  f.end_is_infinite = true;  // [m, +inf)
  CHECK(f.touches(op(LogOperation::Type::kRangeDelete, "zz", "", true)));
  CHECK(f.touches(op(LogOperation::Type::kWrite, "zzzz")));
  CHECK_FALSE(f.touches(op(LogOperation::Type::kRangeDelete, "a", "m")));
}

TEST_CASE("sse: transaction, checkpoint and error events") {
  test::OwnedTransaction t;
  t.version = 7;
  t.timestamp_ms = 1'795'255'200'123;
  t.request_id = "r\"1";
  t.operations.push_back({LogOperation::Type::kWrite, "k", std::string("\0\xff", 2), "", false});
  t.operations.push_back({LogOperation::Type::kRangeDelete, "a", "", "b", false});
  t.operations.push_back({LogOperation::Type::kRangeDelete, "x", "", "", true});
  BatchEncoder encoder;
  const std::string bytes = test::encode_batch(encoder, 5, {t}, "L1");
  const BatchDecodeResult r = BatchView::decode(bytes);
  REQUIRE(r.status == DecodeStatus::kOk);
  const TransactionView txn = *r.batch.transactions().begin();
  std::string out;
  CHECK(append_transaction_event(out, txn, r.batch.leader_id(), KeyFilter{}));
  CHECK(out ==
        "id: 7\nevent: transaction\ndata: {\"version\":7,\"prev_version\":5,\"request_id\":"
        "\"r\\\"1\",\"timestamp\":\"2026-11-21T10:00:00.123Z\",\"leader_id\":\"L1\","
        "\"operations\":[{\"type\":\"write\",\"key\":\"aw==\",\"value\":\"AP8=\"},"
        "{\"type\":\"range_delete\",\"begin\":\"YQ==\",\"end\":\"Yg==\"},"
        "{\"type\":\"range_delete\",\"begin\":\"eA==\"}]}\n\n");
  KeyFilter only_k{true, "k", "l", false};
  out.clear();
  CHECK(append_transaction_event(out, txn, "L1", only_k));
  CHECK(out.ends_with(
      "\"operations\":[{\"type\":\"write\",\"key\":\"aw==\",\"value\":\"AP8=\"}]}\n\n"));
  KeyFilter none{true, "c", "d", false};
  out.clear();
  CHECK_FALSE(append_transaction_event(out, txn, "L1", none));
  CHECK(out.empty());

  out.clear();
  append_checkpoint_event(out, 42, "L2");
  CHECK(out == "event: checkpoint\ndata: {\"committed_version\":42,\"leader_id\":\"L2\"}\n\n");
  out.clear();
  append_error_event(out, "slow_consumer", "too slow", "resume_after", 9);
  CHECK(out ==
        "event: error\ndata: {\"error\":\"slow_consumer\",\"message\":\"too slow\","
        "\"resume_after\":9}\n\n");
}

TEST_CASE("output queue: chunk framing survives partial writes; take_partial ends on an event") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
  const int small = 4096;
  ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  OutputQueue q(/*chunked=*/true);
  q.push_copy("HEAD\r\n\r\n", 0, /*framed=*/false);
  std::string expected = "HEAD\r\n\r\n";
  uint64_t version = 0;
  // Enough to fill the socket several times over.
  for (int i = 0; i < 200; ++i) {
    const std::string event = fmt::format("id: {}\n{}\n\n", ++version, std::string(500, 'x'));
    q.push_copy(event, version);
    expected += fmt::format("{:x}\r\n{}\r\n", event.size(), event);
  }
  CHECK(q.pending_bytes() > 100'000);
  std::string received;
  char buf[65536];
  for (int round = 0; round < 10'000 && !q.empty(); ++round) {  // bounded-poll
    const auto r = q.write_to(fds[0]);
    CHECK(r != OutputQueue::WriteResult::kError);
    const ssize_t n = ::read(fds[1], buf, 1000);  // drain a little at a time: partial writes
    if (n > 0) received.append(buf, static_cast<size_t>(n));
  }
  REQUIRE(q.empty());
  for (;;) {
    const ssize_t n = ::read(fds[1], buf, sizeof(buf));
    if (n <= 0) break;
    received.append(buf, static_cast<size_t>(n));
  }
  CHECK(received == expected);
  CHECK(q.written_version() == version);
  CHECK(q.pending_bytes() == 0);

  // A partially written segment is completed by take_partial, the rest dropped.
  q.push_copy(std::string(20'000, 'a'), 301);
  q.push_copy(std::string(10, 'b'), 302);
  REQUIRE(q.write_to(fds[0]) == OutputQueue::WriteResult::kBlocked);
  uint64_t resume = 0;
  std::string rest = q.take_partial(resume);
  CHECK(resume == 301);
  CHECK(rest.size() > 0);
  CHECK(rest.ends_with("a\r\n"));
  CHECK(q.empty());
  std::string tail;
  q.append_framed(tail, "bye");
  q.append_end(tail);
  CHECK(tail == "3\r\nbye\r\n0\r\n\r\n");
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace weasel
