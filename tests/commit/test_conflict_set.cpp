// Unit and randomized tests for weasel::ConflictSet (src/commit/conflict_set.hpp).
//
// The randomized tests compare every answer with two independent models: a list of every
// write scanned linearly (trivially correct), and, for large histories where a scan is too
// slow, a std::map step function that the first model validates on small histories.
// Scale: WEASEL_CSET_TEST_SCALE (environment, a factor) multiplies the operation counts;
// sanitizer builds default to a tenth.

#include "commit/conflict_set.hpp"

#include <doctest/doctest.h>

#include "commit/conflict_set_pool.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace weasel {
namespace {

using Result = ConflictSet::Result;
using Read = ConflictSet::Read;
using Write = ConflictSet::Write;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double kDefaultScale = 0.1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr double kDefaultScale = 0.1;
#else
constexpr double kDefaultScale = 1.0;
#endif
#else
constexpr double kDefaultScale = 1.0;
#endif

size_t scaled(size_t n) {
  double scale = kDefaultScale;
  if (const char* env = std::getenv("WEASEL_CSET_TEST_SCALE")) scale = std::atof(env);
  return std::max<size_t>(1, static_cast<size_t>(static_cast<double>(n) * scale));
}

Read point_read(std::string_view k, uint64_t v) { return {k, {}, true, false, v}; }
Read range_read(std::string_view b, std::string_view e, uint64_t v) { return {b, e, false, false, v}; }
Read open_read(std::string_view b, uint64_t v) { return {b, {}, false, true, v}; }
Write point_write(std::string_view k) { return {k, {}, true, false}; }
Write range_write(std::string_view b, std::string_view e) { return {b, e, false, false}; }
Write open_write(std::string_view b) { return {b, {}, false, true}; }

Result check_one(const ConflictSet& cs, const Read& read) {
  Result r = Result::kCommit;
  cs.check(std::span(&read, 1), std::span(&r, 1));
  return r;
}

void write_one(ConflictSet& cs, const Write& w, uint64_t version) {
  cs.add_writes(std::span(&w, 1), version);
}

using namespace std::string_literals;

TEST_CASE("conflict set: empty set commits everything not too old") {
  ConflictSet cs(10);
  CHECK(cs.oldest_version() == 10);
  CHECK(check_one(cs, point_read("a", 10)) == Result::kCommit);
  CHECK(check_one(cs, open_read("", 11)) == Result::kCommit);
  CHECK(check_one(cs, point_read("a", 9)) == Result::kTooOld);
  CHECK(check_one(cs, range_read("a", "b", 0)) == Result::kTooOld);
  cs.check_invariants();
}

TEST_CASE("conflict set: point read vs point write") {
  ConflictSet cs;
  write_one(cs, point_write("apple"), 10);
  CHECK(check_one(cs, point_read("apple", 9)) == Result::kConflict);
  CHECK(check_one(cs, point_read("apple", 10)) == Result::kCommit);  // same version: seen
  CHECK(check_one(cs, point_read("apple", 11)) == Result::kCommit);
  CHECK(check_one(cs, point_read("apples", 0)) == Result::kCommit);
  CHECK(check_one(cs, point_read("appl", 0)) == Result::kCommit);
  CHECK(check_one(cs, point_read("apple\0"s, 0)) == Result::kCommit);
  write_one(cs, point_write("apple"), 20);
  CHECK(check_one(cs, point_read("apple", 15)) == Result::kConflict);
  CHECK(check_one(cs, point_read("apple", 20)) == Result::kCommit);
  cs.check_invariants();
}

TEST_CASE("conflict set: point read vs range delete, end exclusive") {
  ConflictSet cs;
  write_one(cs, range_write("b", "d"), 10);
  CHECK(check_one(cs, point_read("a", 0)) == Result::kCommit);
  CHECK(check_one(cs, point_read("az\xff", 0)) == Result::kCommit);
  CHECK(check_one(cs, point_read("b", 9)) == Result::kConflict);
  CHECK(check_one(cs, point_read("b\0"s, 9)) == Result::kConflict);
  CHECK(check_one(cs, point_read("c\xff\xff", 9)) == Result::kConflict);
  CHECK(check_one(cs, point_read("d", 0)) == Result::kCommit);
  CHECK(check_one(cs, point_read("d\0"s, 0)) == Result::kCommit);
  CHECK(check_one(cs, point_read("c", 10)) == Result::kCommit);
}

TEST_CASE("conflict set: range read vs point write inside, at begin, at end") {
  ConflictSet cs;
  write_one(cs, point_write("m"), 10);
  CHECK(check_one(cs, range_read("a", "z", 9)) == Result::kConflict);   // inside
  CHECK(check_one(cs, range_read("m", "n", 9)) == Result::kConflict);   // at begin
  CHECK(check_one(cs, range_read("a", "m", 9)) == Result::kCommit);     // at end: excluded
  CHECK(check_one(cs, range_read("a", "m\0"s, 9)) == Result::kConflict);
  CHECK(check_one(cs, range_read("m\0"s, "z", 9)) == Result::kCommit);  // just after
  CHECK(check_one(cs, range_read("a", "z", 10)) == Result::kCommit);
  CHECK(check_one(cs, range_read("n", "m", 0)) == Result::kCommit);     // empty range
  CHECK(check_one(cs, range_read("m", "m", 0)) == Result::kCommit);
}

TEST_CASE("conflict set: range read vs range write") {
  ConflictSet cs;
  write_one(cs, range_write("c", "f"), 10);
  CHECK(check_one(cs, range_read("a", "c", 9)) == Result::kCommit);
  CHECK(check_one(cs, range_read("a", "c\0"s, 9)) == Result::kConflict);
  CHECK(check_one(cs, range_read("e\xff", "g", 9)) == Result::kConflict);
  CHECK(check_one(cs, range_read("f", "g", 9)) == Result::kCommit);
  CHECK(check_one(cs, range_read("a", "z", 9)) == Result::kConflict);
  CHECK(check_one(cs, range_read("d", "e", 9)) == Result::kConflict);  // strictly inside
}

TEST_CASE("conflict set: infinite ends") {
  ConflictSet cs;
  write_one(cs, open_write("m"), 10);
  CHECK(check_one(cs, point_read("l\xff\xff", 9)) == Result::kCommit);
  CHECK(check_one(cs, point_read("m", 9)) == Result::kConflict);
  CHECK(check_one(cs, point_read("\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9)) == Result::kConflict);
  CHECK(check_one(cs, range_read("a", "m", 9)) == Result::kCommit);
  CHECK(check_one(cs, open_read("a", 9)) == Result::kConflict);
  CHECK(check_one(cs, open_read("zz", 9)) == Result::kConflict);
  ConflictSet points;
  write_one(points, point_write("b"), 10);
  CHECK(check_one(points, open_read("a", 9)) == Result::kConflict);
  CHECK(check_one(points, open_read("b", 9)) == Result::kConflict);
  CHECK(check_one(points, open_read("b\0"s, 9)) == Result::kCommit);
  CHECK(check_one(points, open_read("", 10)) == Result::kCommit);
}

TEST_CASE("conflict set: the empty key") {
  ConflictSet cs;
  write_one(cs, point_write(""), 10);
  CHECK(check_one(cs, point_read("", 9)) == Result::kConflict);
  CHECK(check_one(cs, point_read("\0"s, 9)) == Result::kCommit);
  CHECK(check_one(cs, range_read("", "\0"s, 9)) == Result::kConflict);
  CHECK(check_one(cs, open_read("", 9)) == Result::kConflict);
  CHECK(check_one(cs, open_read("\0"s, 9)) == Result::kCommit);
  write_one(cs, range_write("", "a"), 20);
  CHECK(check_one(cs, point_read("\0\0"s, 19)) == Result::kConflict);
  CHECK(check_one(cs, point_read("a", 0)) == Result::kCommit);
  write_one(cs, open_write(""), 30);
  CHECK(check_one(cs, point_read("anything", 29)) == Result::kConflict);
  CHECK(check_one(cs, point_read("", 29)) == Result::kConflict);
  cs.check_invariants();
}

TEST_CASE("conflict set: keys that are prefixes of each other") {
  ConflictSet cs;
  write_one(cs, point_write("ab"), 10);
  CHECK(check_one(cs, point_read("a", 9)) == Result::kCommit);
  CHECK(check_one(cs, point_read("abc", 9)) == Result::kCommit);
  CHECK(check_one(cs, range_read("a", "ab", 9)) == Result::kCommit);
  CHECK(check_one(cs, range_read("a", "ab\0"s, 9)) == Result::kConflict);
  write_one(cs, range_write("ab\0"s, "abc"), 20);
  CHECK(check_one(cs, point_read("ab", 15)) == Result::kCommit);
  CHECK(check_one(cs, point_read("ab\0"s, 15)) == Result::kConflict);
  CHECK(check_one(cs, point_read("abb\xff\xff", 15)) == Result::kConflict);
  CHECK(check_one(cs, point_read("abc", 15)) == Result::kCommit);
  CHECK(check_one(cs, point_read("abc\0"s, 15)) == Result::kCommit);
  // Long keys sharing a long prefix, and an 8-byte boundary inside it.
  std::string base(40, 'k');
  write_one(cs, point_write(base + "1"), 30);
  write_one(cs, point_write(base), 31);
  CHECK(check_one(cs, point_read(base + "1", 29)) == Result::kConflict);
  CHECK(check_one(cs, point_read(base + "0", 29)) == Result::kCommit);
  CHECK(check_one(cs, point_read(base.substr(0, 39), 29)) == Result::kCommit);
  CHECK(check_one(cs, range_read(base + "\0"s, base + "2", 29)) == Result::kConflict);
  CHECK(check_one(cs, range_read(base + "\0"s, base + "1", 29)) == Result::kCommit);
  cs.check_invariants();
}

TEST_CASE("conflict set: keys beyond the slab sizes and the saturated length") {
  ConflictSet cs;
  for (size_t len : {300, 70000}) {
    std::string k(len, 'x');
    uint64_t v = len;  // distinct, increasing versions
    write_one(cs, point_write(k), v);
    write_one(cs, point_write(k + "a"), v + 1);
    write_one(cs, range_write(k + "c", k + "d"), v + 2);
    CHECK(check_one(cs, point_read(k, v - 1)) == Result::kConflict);
    CHECK(check_one(cs, point_read(k, v)) == Result::kCommit);
    CHECK(check_one(cs, point_read(k + "\0"s, 0)) == Result::kCommit);
    CHECK(check_one(cs, point_read(k + "a", v)) == Result::kConflict);
    CHECK(check_one(cs, point_read(k + "b", 0)) == Result::kCommit);
    CHECK(check_one(cs, point_read(k + "c\xff", v + 1)) == Result::kConflict);
    CHECK(check_one(cs, range_read(k + "\0"s, k + "a", 0)) == Result::kCommit);
    CHECK(check_one(cs, range_read(k + "\0"s, k + "b", v)) == Result::kConflict);
    CHECK(check_one(cs, range_read(k.substr(0, len - 1), k, 0)) == Result::kCommit);
    CHECK(check_one(cs, point_read(k.substr(0, len - 1), 0)) == Result::kCommit);
    cs.check_invariants();
  }
  cs.set_oldest_version(1'000'000);
  for (int i = 0; i < 100 && cs.entry_count() > 0; ++i) cs.set_oldest_version(1'000'001 + i);
  CHECK(cs.entry_count() == 0);
  cs.check_invariants();
}

TEST_CASE("conflict set: later writes cover earlier ones") {
  ConflictSet cs;
  write_one(cs, point_write("c"), 5);
  write_one(cs, range_write("a", "z"), 10);
  write_one(cs, point_write("m"), 15);
  CHECK(check_one(cs, point_read("c", 9)) == Result::kConflict);
  CHECK(check_one(cs, point_read("c", 10)) == Result::kCommit);
  CHECK(check_one(cs, point_read("m", 12)) == Result::kConflict);
  CHECK(check_one(cs, range_read("b", "l", 12)) == Result::kCommit);
  CHECK(check_one(cs, range_read("b", "n", 12)) == Result::kConflict);
  CHECK(check_one(cs, range_read("z", "zz", 0)) == Result::kCommit);
  cs.check_invariants();
}

TEST_CASE("conflict set: a batch of reads is answered in place") {
  ConflictSet cs;
  std::vector<Write> writes{point_write("a"), range_write("k", "p"), point_write("x")};
  cs.add_writes(writes, 7);
  cs.set_oldest_version(3);
  std::vector<Read> reads{point_read("a", 6), point_read("b", 6), range_read("l", "m", 6),
                          open_read("y", 6), point_read("x", 2), point_read("x", 7)};
  std::vector<Result> results(reads.size());
  cs.check(reads, results);
  CHECK(results == std::vector<Result>{Result::kConflict, Result::kCommit, Result::kConflict,
                                       Result::kCommit, Result::kTooOld, Result::kCommit});
}

TEST_CASE("conflict set: resolve() sees earlier transactions of its batch, in order") {
  ConflictSet cs(1);
  write_one(cs, point_write("c"), 5);
  std::vector<Read> r1{point_read("x", 5)};
  std::vector<Write> w1{point_write("a"), range_write("m", "p")};
  std::vector<Read> r2{point_read("a", 9), point_read("c", 5)};  // a: written by txn 1 at 10
  std::vector<Write> w2{point_write("z")};                         // txn 2 fails: not added
  std::vector<Read> r3{range_read("n", "o", 10), point_read("z", 6), point_read("c", 5)};
  std::vector<Read> r4{point_read("z", 6), range_read("b", "n", 9)};
  std::vector<Write> w4{open_write("q")};
  std::vector<Read> r5{point_read("zz", 11), point_read("a", 10)};  // q..: txn 4 failed
  std::vector<ConflictSet::Transaction> txns{
      {r1, w1, 10}, {r2, w2, 11}, {r3, {}, 12}, {r4, w4, 13}, {r5, {}, 14}};
  std::vector<Result> results(10);
  bool committed[5];
  cs.set_oldest_version(4);
  cs.resolve(txns, results, committed);
  CHECK(results == std::vector<Result>{Result::kCommit,                      // txn 1
                                       Result::kConflict, Result::kCommit,   // txn 2
                                       Result::kCommit, Result::kCommit, Result::kCommit,
                                       Result::kCommit, Result::kConflict,   // txn 4: [m, p)
                                       Result::kCommit, Result::kCommit});   // txn 5
  CHECK(committed[0]);
  CHECK(!committed[1]);
  CHECK(committed[2]);
  CHECK(!committed[3]);
  CHECK(committed[4]);
  // Afterwards the history holds exactly the committed writes.
  CHECK(check_one(cs, point_read("a", 9)) == Result::kConflict);
  CHECK(check_one(cs, point_read("n", 9)) == Result::kConflict);
  CHECK(check_one(cs, point_read("z", 4)) == Result::kCommit);
  CHECK(check_one(cs, point_read("zz", 4)) == Result::kCommit);
  CHECK(check_one(cs, point_read("x", 3)) == Result::kTooOld);
  cs.check_invariants();
  // A second batch starts from a clean scratch: nothing of the first batch's leftovers.
  std::vector<Read> r6{point_read("zz", 10)};
  std::vector<ConflictSet::Transaction> again{{r6, {}, 15}};
  cs.resolve(again, std::span(results).first(1), std::span(committed, 1));
  CHECK(results[0] == Result::kCommit);
  CHECK(committed[0]);
}

TEST_CASE("conflict set: too old, and oldest_version never goes back") {
  ConflictSet cs;
  write_one(cs, point_write("a"), 10);
  cs.set_oldest_version(8);
  CHECK(check_one(cs, point_read("a", 7)) == Result::kTooOld);
  CHECK(check_one(cs, point_read("a", 8)) == Result::kConflict);
  cs.set_oldest_version(5);
  CHECK(cs.oldest_version() == 8);
  cs.set_oldest_version(12);
  CHECK(check_one(cs, point_read("a", 11)) == Result::kTooOld);
  CHECK(check_one(cs, point_read("a", 12)) == Result::kCommit);
  write_one(cs, point_write("b"), 12);  // at or below oldest: can never conflict
  CHECK(check_one(cs, point_read("b", 12)) == Result::kCommit);
}

// The window spans at most kMaxVersionSpan versions (the tree stores versions in 32 bits
// above a base at or below the oldest one): a write further ahead raises the oldest version.
TEST_CASE("conflict set: a version jump past the span raises the oldest version") {
  constexpr uint64_t kSpan = ConflictSet::kMaxVersionSpan;
  ConflictSet cs(3);
  write_one(cs, point_write("a"), 5);
  write_one(cs, range_write("c", "e"), 6);
  write_one(cs, point_write("g"), 3 + kSpan);  // exactly the span above the oldest: no raise
  CHECK(cs.oldest_version() == 3);
  CHECK(check_one(cs, point_read("a", 4)) == Result::kConflict);
  CHECK(check_one(cs, range_read("b", "d", 5)) == Result::kConflict);
  CHECK(check_one(cs, point_read("g", 2 + kSpan)) == Result::kConflict);
  const uint64_t far = uint64_t{1} << 40;  // 2^40 - 3 > 2^32 versions later
  write_one(cs, point_write("b"), far);
  CHECK(cs.oldest_version() == far - kSpan);
  cs.check_invariants();
  CHECK(check_one(cs, point_read("a", far - kSpan - 1)) == Result::kTooOld);
  CHECK(check_one(cs, point_read("a", far - kSpan)) == Result::kCommit);
  CHECK(check_one(cs, range_read("", "g", far - kSpan)) == Result::kConflict);  // b
  CHECK(check_one(cs, range_read("c", "z", far - kSpan)) == Result::kCommit);
  CHECK(check_one(cs, point_read("b", far - 1)) == Result::kConflict);
  CHECK(check_one(cs, point_read("b", far)) == Result::kCommit);
  // Within the span, nothing moves: a write 2^32 + 100 above the tree's base (the oldest
  // version at the jump) but within the span of the oldest version that caught up meanwhile
  // makes the tree rebase, and only that.
  const uint64_t next = far + kSpan + 100;
  cs.set_oldest_version(far + 200);
  write_one(cs, open_write("x"), next);
  CHECK(cs.oldest_version() == far + 200);
  CHECK(check_one(cs, point_read("b", far + 199)) == Result::kTooOld);
  CHECK(check_one(cs, point_read("b", far + 200)) == Result::kCommit);
  CHECK(check_one(cs, point_read("xyz", far + 200)) == Result::kConflict);
  CHECK(check_one(cs, point_read("xyz", next - 1)) == Result::kConflict);
  CHECK(check_one(cs, range_read("", "x", far + 200)) == Result::kCommit);
  CHECK(check_one(cs, range_read("", "xa", far + 200)) == Result::kConflict);
  CHECK(check_one(cs, point_read("zz", next)) == Result::kCommit);
  cs.check_invariants();
}

// resolve() raises the oldest version as the committed transactions go, exactly as check()
// and add_writes() one transaction at a time would: a read of a later transaction in the
// batch, below the raised oldest version, is too old.
TEST_CASE("conflict set: resolve() raises the oldest version where add_writes() would") {
  constexpr uint64_t kSpan = ConflictSet::kMaxVersionSpan;
  const uint64_t far = uint64_t{1} << 36;
  std::vector<Read> r1{point_read("a", 10)};
  std::vector<Write> w1{point_write("a")};
  std::vector<Read> r2{point_read("z", 10)};
  std::vector<Write> w2{point_write("b")};
  std::vector<Read> r3{point_read("a", far - kSpan - 1), point_read("b", far - kSpan),
                       point_read("a", far - kSpan)};
  std::vector<Write> w3{point_write("c")};
  std::vector<Read> r4{point_read("c", far), point_read("b", far - 1)};  // fails: no raise
  std::vector<ConflictSet::Transaction> txns{
      {r1, w1, 20}, {r2, w2, far}, {r3, w3, far + 1}, {r4, {}, far + 2}};
  std::vector<Result> results(7);
  bool committed[4];
  ConflictSet batched(5);
  batched.resolve(txns, results, committed);
  CHECK(results == std::vector<Result>{Result::kCommit, Result::kCommit, Result::kTooOld,
                                       Result::kConflict, Result::kCommit, Result::kCommit,
                                       Result::kConflict});
  CHECK(committed[0]);
  CHECK(committed[1]);
  CHECK(!committed[2]);
  CHECK(!committed[3]);
  CHECK(batched.oldest_version() == far - kSpan);
  batched.check_invariants();
  // One transaction at a time gives the same answers.
  ConflictSet single(5);
  std::vector<Result> one(7);
  size_t at = 0;
  for (size_t t = 0; t < txns.size(); ++t) {
    std::span<Result> out = std::span(one).subspan(at, txns[t].reads.size());
    single.check(txns[t].reads, out);
    at += out.size();
    if (committed[t]) single.add_writes(txns[t].writes, txns[t].version);
  }
  CHECK(one == results);
  CHECK(single.oldest_version() == far - kSpan);
}

TEST_CASE("conflict set: collection frees memory and keeps answers right") {
  ConflictSet cs;
  // Not scaled: fixed reserves (a node chunk per node type and tree, a key chunk per size
  // class) need a history much larger than they are.
  const size_t n = 600000;
  std::vector<std::string> keys;
  keys.reserve(n);
  for (size_t i = 0; i < n; ++i) keys.push_back("key/" + std::to_string(i * 7919 % n) + "/x");
  for (size_t i = 0; i < n; ++i) write_one(cs, point_write(keys[i]), i + 1);
  size_t full_bytes = cs.memory_bytes();
  CHECK(cs.entry_count() >= n / 2);
  // Forget the first half: answers for the second half stay exact while it is collected.
  uint64_t half = n / 2;
  for (size_t step = 0; step < n; ++step) cs.set_oldest_version(half + step / n);
  cs.check_invariants();
  for (size_t i = 0; i < n; i += 97) {
    Result want = i + 1 > half ? Result::kConflict : Result::kCommit;
    CHECK(check_one(cs, point_read(keys[i], half)) == want);
  }
  // Forget everything: the set shrinks back to almost nothing.
  const size_t step_bound = n * 10;
  size_t steps = 0;
  while (cs.entry_count() > 0 && steps < step_bound) cs.set_oldest_version(n + 2 + steps++);
  CHECK(cs.entry_count() == 0);
  // What stays: one spare chunk per node type of the main tree, one key chunk per size class
  // (resolve()'s scratch tree holds nothing until resolve() runs).
  constexpr size_t kNodeChunks = 5;
  size_t reserve_bytes = kNodeChunks * cset::kHugeChunkBytes +
                         cset::KeyPool::kClasses * cset::KeyPool::kChunkBytes;
  CHECK(full_bytes > 2 * reserve_bytes);
  CHECK(cs.memory_bytes() <= reserve_bytes);
  cs.check_invariants();
  write_one(cs, point_write(keys[0]), n + 2 + steps);
  CHECK(check_one(cs, point_read(keys[0], n + 1 + steps)) == Result::kConflict);
}

TEST_CASE("key pool: slots keep their bytes, and emptied chunks go back to the system") {
  cset::KeyPool pool;
  struct Block {
    uint8_t* p;
    size_t len;
    uint8_t fill;
  };
  std::vector<Block> live;
  uint64_t state = 7;
  auto next = [&] { return state = state * 6364136223846793005ULL + 1442695040888963407ULL; };
  auto verify = [&](const Block& b) {
    for (size_t i = 0; i < b.len; ++i) {
      if (b.p[i] != b.fill) FAIL("block of " << b.len << " bytes overwritten at " << i);
    }
  };
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 20000; ++i) {
      // Lengths across every class and past kPooledMax (malloc'd directly).
      size_t len = 1 + (next() >> 33) % (cset::KeyPool::kPooledMax + 40);
      uint8_t fill = static_cast<uint8_t>(next() >> 56);
      uint8_t* p = pool.allocate(len);
      std::memset(p, fill, len);
      live.push_back({p, len, fill});
      if ((next() >> 40) % 3 == 0) {  // release a random block now and then
        size_t victim = (next() >> 20) % live.size();
        verify(live[victim]);
        pool.release(live[victim].p, live[victim].len);
        live[victim] = live.back();
        live.pop_back();
      }
    }
    size_t bytes = 0;
    for (const Block& b : live) bytes += b.len;
    CHECK(pool.live_bytes() == bytes);
    for (const Block& b : live) verify(b);
    // Release all but a few: nearly every chunk must go back.
    while (live.size() > 10) {
      pool.release(live.back().p, live.back().len);
      live.pop_back();
    }
    size_t classes = cset::KeyPool::kClasses;
    CHECK(pool.reserved_bytes() <= (classes + 10) * cset::KeyPool::kChunkBytes + 10 * 300);
  }
  for (const Block& b : live) {
    verify(b);
    pool.release(b.p, b.len);
  }
  CHECK(pool.live_bytes() == 0);
  CHECK(pool.reserved_bytes() <= cset::KeyPool::kClasses * cset::KeyPool::kChunkBytes);
}

// ---- randomized comparison with models ----------------------------------------------------

struct Rng {
  uint64_t state;
  uint64_t next() {  // splitmix64: deterministic on every platform
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool percent(int p) { return below(100) < static_cast<uint64_t>(p); }
};

struct KeySpace {
  std::string alphabet;
  size_t min_len;
  size_t max_len;
  std::string prefix = {};  // shared by most keys; a few take only part of it
  std::string make(Rng& rng) const {
    std::string k(min_len + rng.below(max_len - min_len + 1), '\0');
    for (char& c : k) c = alphabet[rng.below(alphabet.size())];
    if (prefix.empty()) return k;
    size_t shared = rng.percent(95) ? prefix.size() : rng.below(prefix.size() + 1);
    return prefix.substr(0, shared) + k;
  }
};

// [begin, end) with end absent meaning +infinity; a point is [k, k + '\0').
struct Span {
  std::string begin;
  std::optional<std::string> end;
};

Span span_of(std::string_view b, std::string_view e, bool is_point, bool infinite) {
  if (is_point) return {std::string(b), std::string(b) + '\0'};
  if (infinite) return {std::string(b), std::nullopt};
  return {std::string(b), std::string(e)};
}

bool is_empty(const Span& s) { return s.end && s.begin >= *s.end; }
bool overlaps(const Span& a, const Span& b) {
  if (is_empty(a) || is_empty(b)) return false;
  return (!b.end || a.begin < *b.end) && (!a.end || b.begin < *a.end);
}

// Trivially correct: every write not older than the window, scanned linearly.
class LinearModel {
 public:
  explicit LinearModel(uint64_t oldest) : oldest_(oldest) {}
  void add(const Write& w, uint64_t v) {
    if (v > oldest_) writes_.push_back({span_of(w.begin, w.end, w.is_point, w.end_is_infinite), v});
  }
  Result check(const Read& r) const {
    if (r.read_version < oldest_) return Result::kTooOld;
    Span s = span_of(r.begin, r.end, r.is_point, r.end_is_infinite);
    for (const auto& [w, v] : writes_) {
      if (v > r.read_version && overlaps(s, w)) return Result::kConflict;
    }
    return Result::kCommit;
  }
  void set_oldest(uint64_t v) {
    oldest_ = std::max(oldest_, v);
    std::erase_if(writes_, [&](const auto& w) { return w.second <= oldest_; });
  }

 private:
  uint64_t oldest_;
  std::vector<std::pair<Span, uint64_t>> writes_;
};

// A step function: boundary key -> version of [boundary, next boundary). Never collected, so
// it suits large histories; validated against LinearModel below.
class StepModel {
 public:
  void add(const Write& w, uint64_t v) {
    Span s = span_of(w.begin, w.end, w.is_point, w.end_is_infinite);
    if (is_empty(s)) return;
    if (s.end) {
      uint64_t at_end = version_at(*s.end);
      steps_.erase(steps_.lower_bound(s.begin), steps_.lower_bound(*s.end));
      steps_.emplace(*s.end, at_end);  // keeps an existing boundary
    } else {
      steps_.erase(steps_.lower_bound(s.begin), steps_.end());
    }
    steps_[s.begin] = v;
  }
  Result check(const Read& r, uint64_t oldest) const {
    if (r.read_version < oldest) return Result::kTooOld;
    Span s = span_of(r.begin, r.end, r.is_point, r.end_is_infinite);
    if (is_empty(s)) return Result::kCommit;
    auto it = std::prev(steps_.upper_bound(s.begin));
    for (; it != steps_.end() && (!s.end || it->first < *s.end); ++it) {
      if (it->second > r.read_version) return Result::kConflict;
    }
    return Result::kCommit;
  }

 private:
  uint64_t version_at(const std::string& k) const { return std::prev(steps_.upper_bound(k))->second; }
  std::map<std::string, uint64_t> steps_{{"", 0}};
};

std::string describe(const Read& r) {
  std::string out = r.is_point ? "point " : "range ";
  auto hex = [&](std::string_view k) {
    static const char* digits = "0123456789abcdef";
    out += '"';
    for (unsigned char c : k) (out += digits[c >> 4]) += digits[c & 15];
    out += '"';
  };
  hex(r.begin);
  if (!r.is_point) {
    out += r.end_is_infinite ? " .. inf" : " .. ";
    if (!r.end_is_infinite) hex(r.end);
  }
  return out + " @" + std::to_string(r.read_version);
}

struct Workload {
  KeySpace keys;
  size_t transactions;
  uint64_t window;          // how far oldest_version lags behind the newest version
  int range_read_percent;   // of reads
  int range_write_percent;  // of writes
  int open_percent;         // of range reads and writes: [begin, inf)
  int invariant_every;      // transactions between full structural checks
  bool large;               // step model only (the linear scan would be too slow)
  size_t max_batch = 1;     // > 1: batches of 1..max_batch transactions through resolve()
  // Of transactions: the version jumps 2^30 to 2^30 + 2^33 ahead (the window's span limit
  // raises the oldest version, the tree rebases), and a read in 20 then aims at the oldest
  // version the span allows.
  int jump_percent = 0;
};

// One batch of generated transactions; string_views point into `storage` (a deque: stable).
struct Batch {
  std::deque<std::string> storage;
  std::vector<Read> reads;
  std::vector<Write> writes;
  std::vector<size_t> read_end;   // per transaction: end offset in `reads`
  std::vector<size_t> write_end;  // per transaction: end offset in `writes`
  std::vector<uint64_t> versions;
  void clear() {
    storage.clear();
    reads.clear();
    writes.clear();
    read_end.clear();
    write_end.clear();
    versions.clear();
  }
  std::span<const Read> reads_of(size_t t) const {
    size_t b = t == 0 ? 0 : read_end[t - 1];
    return std::span(reads).subspan(b, read_end[t] - b);
  }
  std::span<const Write> writes_of(size_t t) const {
    size_t b = t == 0 ? 0 : write_end[t - 1];
    return std::span(writes).subspan(b, write_end[t] - b);
  }
};

// The models and the set under test, with the bookkeeping of one randomized run.
struct Run {
  const Workload& wl;
  uint64_t seed;
  Rng rng{seed};
  uint64_t oldest = rng.below(4);
  ConflictSet cs{oldest};
  LinearModel linear{oldest};
  StepModel steps;
  uint64_t version = oldest;
  size_t ops = 0;
  size_t outcomes[3] = {0, 0, 0};
  std::vector<std::string> recent = std::vector<std::string>(64);  // reads aim here half the time

  void generate_txn(Batch& batch) {
    version += 1 + rng.below(3);
    bool jumps = wl.jump_percent > 0;
    if (jumps && rng.percent(wl.jump_percent)) {
      version += (uint64_t{1} << 30) + rng.below(uint64_t{1} << 33);
    }
    auto key = [&]() -> std::string_view { return batch.storage.emplace_back(wl.keys.make(rng)); };
    // Mostly near `begin` (a prefix of it plus one symbol, possibly before it: empty), else
    // anywhere (wide or empty). Large workloads stay local so the step model stays fast.
    auto end_near = [&](std::string_view b) -> std::string_view {
      if (!wl.large && rng.percent(25)) return key();
      std::string e(b.substr(0, b.size() - std::min<size_t>(b.size(), rng.below(3))));
      e += wl.keys.alphabet[rng.below(wl.keys.alphabet.size())];
      return batch.storage.emplace_back(std::move(e));
    };
    for (uint64_t i = rng.below(5); i > 0; --i) {
      // Half of the reads are recent, the others anywhere in (and a little below) the window.
      uint64_t span = rng.percent(50) ? 8 : std::min<uint64_t>(version - oldest + 3, 4 * wl.window);
      uint64_t rv = version - std::min<uint64_t>(version, rng.below(span));
      if (jumps && rng.percent(5) && version > ConflictSet::kMaxVersionSpan + 2) {
        rv = version - ConflictSet::kMaxVersionSpan - 2 + rng.below(5);  // around the limit
      }
      std::string_view b =
          rng.percent(50) ? batch.storage.emplace_back(recent[rng.below(recent.size())]) : key();
      if (!rng.percent(wl.range_read_percent)) {
        batch.reads.push_back(point_read(b, rv));
      } else if (rng.percent(wl.open_percent)) {
        batch.reads.push_back(open_read(b, rv));
      } else {
        batch.reads.push_back(range_read(b, end_near(b), rv));
      }
    }
    for (uint64_t i = rng.below(4); i > 0; --i) {
      std::string_view b = key();
      recent[rng.below(recent.size())] = b;
      if (!rng.percent(wl.range_write_percent)) {
        batch.writes.push_back(point_write(b));
      } else if (rng.percent(wl.open_percent)) {
        batch.writes.push_back(open_write(b));
      } else {
        batch.writes.push_back(range_write(b, end_near(b)));
      }
    }
    batch.read_end.push_back(batch.reads.size());
    batch.write_end.push_back(batch.writes.size());
    batch.versions.push_back(version);
  }

  // Compares one transaction's answers with the models; returns whether they all commit.
  bool verify_reads(std::span<const Read> reads, const Result* got, size_t txn) {
    bool all_commit = true;
    for (size_t i = 0; i < reads.size(); ++i) {
      Result want = steps.check(reads[i], oldest);
      if (!wl.large) {
        Result linear_want = linear.check(reads[i]);
        if (linear_want != want) FAIL("models disagree on " << describe(reads[i]));
      }
      if (got[i] != want) {
        FAIL("seed " << seed << " txn " << txn << ": " << describe(reads[i]) << " got "
                     << int(got[i]) << " want " << int(want));
      }
      ++outcomes[static_cast<int>(want)];
      all_commit = all_commit && want == Result::kCommit;
    }
    return all_commit;
  }

  void model_writes(std::span<const Write> writes, uint64_t v) {
    for (const Write& w : writes) {
      if (!wl.large) linear.add(w, v);
      steps.add(w, v);
    }
  }

  // One transaction at a time: check(), then add_writes() whatever the answers (the set must
  // hold any write it is given).
  void run_single(const Batch& batch, std::vector<Result>& results, size_t txn) {
    std::span<const Read> reads = batch.reads_of(0);
    results.assign(reads.size(), Result::kCommit);
    cs.check(reads, results);
    verify_reads(reads, results.data(), txn);
    if (cs.oldest_version() != oldest) FAIL("seed " << seed << ": oldest " << cs.oldest_version());
    cs.add_writes(batch.writes_of(0), batch.versions[0]);
    model_writes(batch.writes_of(0), batch.versions[0]);
    keep_within_span(batch.versions[0]);
  }

  // The window's span limit (ConflictSet::kMaxVersionSpan), applied to the models after
  // every add_writes() or committed transaction, as the set applies it to itself.
  void keep_within_span(uint64_t v) {
    if (v <= oldest || v - oldest <= ConflictSet::kMaxVersionSpan) return;
    oldest = v - ConflictSet::kMaxVersionSpan;
    if (!wl.large) linear.set_oldest(oldest);
  }

  // A batch through resolve(): the models replay it one transaction at a time, adding the
  // writes of those that commit.
  void run_batch(const Batch& batch, std::vector<Result>& results, size_t first_txn) {
    size_t n = batch.versions.size();
    std::vector<ConflictSet::Transaction> txns(n);
    for (size_t t = 0; t < n; ++t) {
      txns[t] = {batch.reads_of(t), batch.writes_of(t), batch.versions[t]};
    }
    results.assign(batch.reads.size(), Result::kCommit);
    std::unique_ptr<bool[]> committed(new bool[n]);
    cs.resolve(txns, results, std::span(committed.get(), n));
    for (size_t t = 0; t < n; ++t) {
      size_t at = t == 0 ? 0 : batch.read_end[t - 1];
      bool want = verify_reads(txns[t].reads, results.data() + at, first_txn + t);
      if (committed[t] != want) {
        FAIL("seed " << seed << " txn " << first_txn + t << ": committed " << committed[t]);
      }
      if (want) {
        model_writes(txns[t].writes, txns[t].version);
        keep_within_span(txns[t].version);
      }
    }
    if (cs.oldest_version() != oldest) FAIL("seed " << seed << ": oldest " << cs.oldest_version());
  }

  void maybe_advance_oldest() {
    if (!rng.percent(12)) return;
    uint64_t lag = wl.window + rng.below(wl.window);
    uint64_t target = version > lag ? version - lag : 0;
    if (target <= oldest) return;
    oldest = target;
    cs.set_oldest_version(oldest);
    if (!wl.large) linear.set_oldest(oldest);
  }
};

// Drives transactions through the set and the models; returns operations done.
size_t run_workload(const Workload& wl, uint64_t seed) {
  Run run{wl, seed};
  Batch batch;
  std::vector<Result> results;
  size_t next_check = 0;
  for (size_t txn = 0; txn < wl.transactions;) {
    size_t n = wl.max_batch <= 1 ? 1 : 1 + run.rng.below(wl.max_batch);
    n = std::min(n, wl.transactions - txn);
    batch.clear();
    for (size_t i = 0; i < n; ++i) run.generate_txn(batch);
    if (wl.max_batch <= 1) {
      run.run_single(batch, results, txn);
    } else {
      run.run_batch(batch, results, txn);
    }
    run.ops += batch.reads.size() + batch.writes.size();
    txn += n;
    run.maybe_advance_oldest();
    if (txn >= next_check) {
      run.cs.check_invariants();
      next_check = txn + static_cast<size_t>(wl.invariant_every);
    }
  }
  run.cs.check_invariants();
  MESSAGE("seed " << seed << ": " << run.ops << " operations; commit " << run.outcomes[0]
                  << ", conflict " << run.outcomes[1] << ", too old " << run.outcomes[2] << "; "
                  << run.cs.entry_count() << " entries at the end");
  // Every outcome must be exercised, or the comparison proves little.
  CHECK(run.outcomes[0] > run.ops / 20);
  CHECK(run.outcomes[1] > run.ops / 20);
  CHECK(run.outcomes[2] > 0);
  return run.ops;
}

TEST_CASE("conflict set: randomized vs linear model, tiny alphabet") {
  // Four symbols including 0x00 and 0xff, short keys: prefixes and duplicates everywhere.
  Workload wl{{"\x00\x01"s + "a\xff", 0, 5}, scaled(120000), 60, 30, 30, 15, 500, false};
  size_t ops = 0;
  for (uint64_t seed : {1, 2, 3, 4}) ops += run_workload(wl, seed);
  MESSAGE("operations: " << ops);
  CHECK(ops > 0);
}

TEST_CASE("conflict set: randomized vs linear model, long shared prefixes") {
  // Keys of up to 24 bytes over two symbols: long common prefixes across 8-byte heads.
  Workload wl{{"ab", 0, 24}, scaled(80000), 80, 30, 25, 15, 500, false};
  size_t ops = 0;
  for (uint64_t seed : {11, 12, 13}) ops += run_workload(wl, seed);
  MESSAGE("operations: " << ops);
  CHECK(ops > 0);
}

TEST_CASE("conflict set: randomized vs linear model, long common prefix with zero bytes") {
  // Every node's keys share more than the 16 prefix bytes kept inline, zero bytes included
  // (they look like padding), and a few keys leave the prefix early (prefixes shrink).
  KeySpace keys{"\x00\x01\xff"s, 0, 6, "tenant\0\0/table\0\x01/index/\0\0\0\0/"s};
  Workload wl{keys, scaled(60000), 60, 30, 30, 15, 500, false};
  size_t ops = 0;
  for (uint64_t seed : {31, 32}) ops += run_workload(wl, seed);
  CHECK(ops > 0);
}

TEST_CASE("conflict set: randomized vs step model, large history") {
  // A wide key space and a long window: tens of thousands of entries, a deep tree.
  Workload wl{{"abcdefgh", 6, 10}, scaled(150000), 60000, 10, 5, 0, 20000, true};
  size_t ops = 0;
  for (uint64_t seed : {21, 22}) ops += run_workload(wl, seed);
  MESSAGE("operations: " << ops);
  CHECK(ops > 0);
}

TEST_CASE("conflict set: randomized vs models, versions jumping past 32 bits") {
  // A jump in about 100 transactions: the tree rebases and the window's span limit raises the
  // oldest version, in single transactions and inside resolve() batches.
  Workload single{{"\x00\x01"s + "a\xff", 0, 5}, scaled(120000), 60, 30, 30, 15, 500, false};
  single.jump_percent = 1;
  Workload batched = single;
  batched.max_batch = 40;
  Workload large{{"abcdefgh", 6, 10}, scaled(100000), 60000, 10, 5, 0, 20000, true, 100};
  large.jump_percent = 1;
  size_t ops = run_workload(single, 61) + run_workload(single, 62) + run_workload(batched, 63) +
               run_workload(batched, 64) + run_workload(large, 65);
  CHECK(ops > 0);
}

TEST_CASE("conflict set: resolve() batches vs models, tiny alphabet") {
  // Batches of up to 40 transactions: later ones read what earlier ones wrote, in order.
  Workload wl{{"\x00\x01"s + "a\xff", 0, 5}, scaled(120000), 60, 30, 30, 15, 500, false, 40};
  size_t ops = 0;
  for (uint64_t seed : {41, 42, 43}) ops += run_workload(wl, seed);
  CHECK(ops > 0);
}

TEST_CASE("conflict set: resolve() batches vs models, long prefixes and large history") {
  KeySpace prefixed{"\x00\x01\xff"s, 0, 6, "tenant\0\0/table\0\x01/index/\0\0\0\0/"s};
  Workload small{prefixed, scaled(60000), 60, 30, 30, 15, 500, false, 100};
  Workload large{{"abcdefgh", 6, 10}, scaled(150000), 60000, 10, 5, 0, 20000, true, 200};
  size_t ops = run_workload(small, 51) + run_workload(large, 52) + run_workload(large, 53);
  CHECK(ops > 0);
}

}  // namespace
}  // namespace weasel
