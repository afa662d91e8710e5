// Tests for the subscription hub (src/stream/hub.hpp) against a real LocalLogStore, with
// subscribers on socketpairs: live delivery, durable vs non-durable, catch-up from the log,
// the hand-off to live, filters, slow consumers, truncated history, hang-ups, stop.
// Synchronization: blocking reads (bounded by SO_RCVTIMEO as a failure bound) and futures.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <future>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "log/local_log_store.hpp"
#include "stream/hub.hpp"
#include "tests/log/log_test_util.hpp"

namespace weasel {
namespace {

// The client end of a subscription: blocking reads with a generous failure bound.
class Client {
 public:
  explicit Client(int fd) : fd_(fd) {
    timeval tv{30, 0};  // bounded-poll: a failure bound on every read, never a synchronizer
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~Client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Reads until the peer closes; returns everything received.
  std::string read_to_end() {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      REQUIRE_MESSAGE(n >= 0, "read failed or timed out");
      if (n == 0) return std::exchange(data_, {});
      data_.append(buf, static_cast<size_t>(n));
    }
  }
  // Reads until `text` has been received; returns everything received so far.
  const std::string& read_until(std::string_view text) {
    char buf[65536];
    while (data_.find(text) == std::string::npos) {
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      REQUIRE_MESSAGE(n > 0, "stream ended or timed out before: " << text);
      data_.append(buf, static_cast<size_t>(n));
    }
    return data_;
  }

 private:
  int fd_;
  std::string data_;
};

class TestSink final : public SubscriberSink {
 public:
  TestSink(int fd, std::promise<std::string> finished)
      : fd_(fd), finished_(std::move(finished)) {}
  ~TestSink() override { REQUIRE(fd_ < 0); }
  int fd() const override { return fd_; }
  std::string take_preamble() override { return "PREAMBLE\n"; }
  void finish(std::string final_bytes) override {
    ::close(fd_);  // the client sees EOF after what was written
    fd_ = -1;
    finished_.set_value(std::move(final_bytes));
  }

 private:
  int fd_;
  std::promise<std::string> finished_;
};

struct Subscription {
  std::unique_ptr<Client> client;
  std::future<std::string> finished;
};

struct Fixture {
  test::TempDir dir;
  std::unique_ptr<LocalLogStore> log;
  MetricsRegistry metrics;
  std::unique_ptr<Hub> hub;
  uint64_t tail = 0;

  explicit Fixture(uint64_t segment_bytes = uint64_t{64} << 20) {
    LocalLogStoreOptions o;
    o.directory = dir.sub("log");
    o.segment_bytes = segment_bytes;
    o.sync = false;
    auto opened = LocalLogStore::open(o);
    REQUIRE(opened.ok());
    log = std::move(opened).value();
  }
  void start_hub(HubOptions options = {}) {
    options.leader_id = "L";
    hub = std::make_unique<Hub>(options, *log, metrics);
  }
  // Appends a batch of `count` transactions straight to the log (history before the hub).
  void append_history(uint32_t count, size_t value_bytes = 16) {
    const std::string b = test::make_batch(tail, count, 1, value_bytes);
    test::append_ok(*log, b);
    tail += count;
  }
  // What the persist stage does: appended, then (optionally) durable.
  uint64_t publish(uint32_t count, bool make_durable = true, size_t value_bytes = 16) {
    const std::string b = test::make_batch(tail, count, 1, value_bytes);
    hub->on_batch_appended(b);
    test::append_ok(*log, b);
    tail += count;
    if (make_durable) hub->on_batch_durable(tail);
    return tail;
  }
  Subscription subscribe(SubscriptionRequest request, int sndbuf = 0) {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
    if (sndbuf > 0) ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    // The client end blocks.
    const int flags = ::fcntl(fds[1], F_GETFL);
    ::fcntl(fds[1], F_SETFL, flags & ~O_NONBLOCK);
    std::promise<std::string> finished;
    Subscription s{std::make_unique<Client>(fds[1]), finished.get_future()};
    request.chunked = false;
    hub->add(request, std::make_unique<TestSink>(fds[0], std::move(finished)));
    return s;
  }
};

SubscriptionRequest after(uint64_t v, bool durable = true) {
  SubscriptionRequest r;
  r.after = v;
  r.durable = durable;
  return r;
}

// The versions of the transaction events in `stream`, checking each prev_version chains on.
std::vector<uint64_t> versions_in(const std::string& stream, uint64_t after) {
  std::vector<uint64_t> out;
  size_t pos = 0;
  uint64_t prev = after;
  while ((pos = stream.find("event: transaction\ndata: {\"version\":", pos)) != std::string::npos) {
    pos += 36;
    const uint64_t v = std::stoull(stream.substr(pos));
    const size_t p = stream.find("\"prev_version\":", pos);
    CHECK(std::stoull(stream.substr(p + 15)) == prev);
    prev = v;
    out.push_back(v);
  }
  return out;
}

std::vector<uint64_t> range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> v;
  for (uint64_t i = first; i <= last; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE("hub: durable subscribers see only durable batches; non-durable see appended ones") {
  Fixture f;
  f.start_hub();
  auto durable = f.subscribe(after(0));
  auto eager = f.subscribe(after(0, false));
  durable.client->read_until("event: checkpoint");  // live
  eager.client->read_until("event: checkpoint");
  f.publish(3);                  // versions 1..3, durable
  f.publish(2, false);           // 4..5 appended, never durable here
  eager.client->read_until("\"version\":5,");
  f.hub->stop();
  const std::string d = durable.client->read_to_end();
  CHECK(d.starts_with("PREAMBLE\nretry: 1000\n\nevent: checkpoint\ndata: {\"committed_version\":0,"));
  CHECK(versions_in(d, 0) == range(1, 3));
  const std::string e = eager.client->read_to_end();
  CHECK(versions_in(e, 0) == range(1, 5));
  // A checkpoint said 3 became durable.
  CHECK(e.find("{\"committed_version\":3,\"leader_id\":\"L\"}") != std::string::npos);
  CHECK(durable.finished.get().empty());  // shutdown: no error event
  CHECK(f.hub->subscriber_count() == 0);
}

TEST_CASE("hub: a quiet live stream is written at once; right after a write, output gathers") {
  Fixture f;
  HubOptions o;
  o.coalesce_us = 600'000'000;  // 10 minutes: only bytes or shutdown end a gathering here
  o.coalesce_bytes = 4096;
  f.start_hub(o);
  auto sub = f.subscribe(after(0));
  // Nothing was written to this stream before: its first checkpoint goes out at once (the
  // client's 30 s read bound fails the test if it were held for the window).
  sub.client->read_until("event: checkpoint");
  // Written just now, so what follows gathers until 4 KiB wait (40 events of ~300 bytes make
  // that at least twice): version 1 arrives with the first 4 KiB, not after the window.
  uint64_t last = 0;
  for (int i = 0; i < 40; ++i) last = f.publish(1, true, 100);
  sub.client->read_until("\"version\":1,");
  f.hub->stop();  // what still gathers is written before the stream ends
  CHECK(versions_in(sub.client->read_to_end(), 0) == range(1, last));
}

TEST_CASE("hub: catch-up reads history from the log, then joins the live tail without gap") {
  Fixture f(/*segment_bytes=*/4096);
  for (int i = 0; i < 60; ++i) f.append_history(5, 200);  // 300 versions over many segments
  HubOptions o;
  o.catchup_chunk_bytes = 2048;  // many worker round trips
  f.start_hub(o);
  auto from_start = f.subscribe(after(0));
  auto from_middle = f.subscribe(after(123));
  auto filtered = [&] {
    SubscriptionRequest r = after(0);
    r.filter = KeyFilter{true, "key-2", "key-3", false};
    return f.subscribe(r);
  }();
  // Live commits race with the catch-up.
  for (int i = 0; i < 20; ++i) f.publish(3);
  const uint64_t last = f.tail;
  const std::string tail_text = fmt::format("\"version\":{},", last);
  from_start.client->read_until(tail_text);
  from_middle.client->read_until(tail_text);
  filtered.client->read_until("\"version\":299,");  // its last match (key-299)
  f.hub->stop();
  CHECK(versions_in(from_start.client->read_to_end(), 0) == range(1, last));
  CHECK(versions_in(from_middle.client->read_to_end(), 123) == range(124, last));
  const std::string fl = filtered.client->read_to_end();
  for (size_t pos = 0; (pos = fl.find("\"operations\":[", pos)) != std::string::npos; ++pos) {
    CHECK(fl.compare(pos, 40, "\"operations\":[{\"type\":\"write\",\"key\":\"a2V") == 0);
  }
  // key-2, key-20..29, key-200..299 (the delete ops on old-* never match).
  size_t count = 0;
  for (size_t pos = 0; (pos = fl.find("event: transaction", pos)) != std::string::npos; ++pos) ++count;
  CHECK(count == 1 + 10 + 100);
}

TEST_CASE("hub: a subscriber that stops reading is cut off with slow_consumer and resumes") {
  Fixture f;
  HubOptions o;
  o.max_buffer_bytes = 8192;
  f.start_hub(o);
  auto slow = f.subscribe(after(0), /*sndbuf=*/4096);
  auto fast = f.subscribe(after(0));
  fast.client->read_until("event: checkpoint");
  // The slow client reads nothing; each batch adds ~1.5 KB of events to its queue.
  std::future_status state = std::future_status::timeout;
  int batches = 0;
  while (state != std::future_status::ready && batches < 10'000) {  // bounded-poll
    f.publish(1, true, 1000);
    ++batches;
    // The fast one keeps up (read in step, so it never lags by more than one batch).
    fast.client->read_until(fmt::format("\"version\":{},", f.tail));
    // A zero-timeout readiness check, never a wait: how many batches fill the socket depends
    // on the kernel's buffer sizes, so the loop above is the bounded poll.
    state = slow.finished.wait_for(std::chrono::seconds(0));  // bounded-poll
  }
  REQUIRE(state == std::future_status::ready);
  const std::string final_bytes = slow.finished.get();
  const std::string received = slow.client->read_to_end();
  // Written bytes then the rest of a partial event, then the error event.
  const std::string all = received + final_bytes;
  const size_t err = all.find("event: error\ndata: {\"error\":\"slow_consumer\"");
  REQUIRE(err != std::string::npos);
  const std::vector<uint64_t> got = versions_in(all.substr(0, err), 0);
  REQUIRE(!got.empty());
  const size_t ra = all.find("\"resume_after\":", err);
  CHECK(std::stoull(all.substr(ra + 15)) == got.back());
  // The fast subscriber was not affected, and resuming after resume_after misses nothing.
  const std::string last = fmt::format("\"version\":{},", f.tail);
  fast.client->read_until(last);
  auto resumed = f.subscribe(after(got.back()));
  resumed.client->read_until(last);
  f.hub->stop();
  CHECK(versions_in(resumed.client->read_to_end(), got.back()) == range(got.back() + 1, f.tail));
  CHECK(versions_in(fast.client->read_to_end(), 0) == range(1, f.tail));
}

TEST_CASE("hub: history truncated under a catching-up subscriber ends its stream") {
  Fixture f(/*segment_bytes=*/4096);
  for (int i = 0; i < 20; ++i) f.append_history(5, 200);
  f.start_hub();
  REQUIRE(f.log->truncate_before(60).ok());
  REQUIRE(f.log->oldest_version() > 0);
  auto s = f.subscribe(after(0));
  const std::string final_bytes = s.finished.get();
  CHECK(final_bytes.find("event: error\ndata: {\"error\":\"log_truncated\"") != std::string::npos);
  CHECK(final_bytes.find(fmt::format("\"oldest_version\":{}", f.log->oldest_version())) !=
        std::string::npos);
  f.hub->stop();
}

TEST_CASE("hub: a client hang-up is noticed and the subscriber dropped") {
  Fixture f;
  f.start_hub();
  auto s = f.subscribe(after(0));
  s.client->read_until("event: checkpoint");
  CHECK(f.hub->subscriber_count() == 1);
  s.client->close();
  CHECK(s.finished.get().empty());
  CHECK(f.hub->subscriber_count() == 0);
  f.hub->stop();
}

TEST_CASE("hub: subscriptions after stop are finished at once") {
  Fixture f;
  f.start_hub();
  f.hub->stop();
  auto s = f.subscribe(after(0));
  CHECK(s.finished.get().empty());
}

}  // namespace weasel
