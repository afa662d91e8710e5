// Tests for the batch format (src/log/log_format.hpp) and its byte coding (coding.hpp).

#include "log/log_format.hpp"

#include <doctest/doctest.h>
#include <xxhash.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "log/coding.hpp"
#include "log_test_util.hpp"

namespace weasel {
namespace {

using test::OwnedOperation;
using test::OwnedTransaction;

std::vector<OwnedTransaction> decode_all(const BatchView& batch) {
  std::vector<OwnedTransaction> out;
  for (const TransactionView& t : batch.transactions()) {
    OwnedTransaction o;
    o.version = t.version;
    o.timestamp_ms = t.timestamp_ms;
    o.request_id = std::string(t.request_id);
    uint32_t ops = 0;
    for (const LogOperation& op : t.operations) {
      o.operations.push_back({op.type, std::string(op.key), std::string(op.value),
                              std::string(op.end), op.end_is_infinite});
      ops += 1;
    }
    CHECK(ops == t.operations.size());
    out.push_back(std::move(o));
  }
  return out;
}

void check_equal(const std::vector<OwnedTransaction>& a, const std::vector<OwnedTransaction>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].version == b[i].version);
    CHECK(a[i].timestamp_ms == b[i].timestamp_ms);
    CHECK(a[i].request_id == b[i].request_id);
    REQUIRE(a[i].operations.size() == b[i].operations.size());
    for (size_t j = 0; j < a[i].operations.size(); ++j) {
      const OwnedOperation& x = a[i].operations[j];
      const OwnedOperation& y = b[i].operations[j];
      CHECK(x.type == y.type);
      CHECK(x.key == y.key);
      CHECK(x.value == y.value);
      CHECK(x.end == y.end);
      CHECK(x.end_is_infinite == y.end_is_infinite);
    }
  }
}

BatchView decode_ok(std::string_view bytes) {
  BatchDecodeResult r = BatchView::decode(bytes);
  REQUIRE_MESSAGE(r.status == DecodeStatus::kOk, r.reason);
  return r.batch;
}

// Recomputes both checksums after a test edits a batch, to reach the structural checks.
void reseal(std::string& batch) {
  uint64_t payload =
      XXH3_64bits(batch.data() + kBatchHeaderBytes, batch.size() - kBatchHeaderBytes);
  coding::put_fixed<uint64_t>(batch.data() + 40, payload);
  coding::put_fixed<uint64_t>(batch.data() + 48, XXH3_64bits(batch.data(), 48));
}

OwnedTransaction every_kind_of_operation(uint64_t version) {
  OwnedTransaction t;
  t.version = version;
  t.timestamp_ms = 1'763'726'400'123;
  t.request_id = "0123456789abcdefghij";
  using T = LogOperation::Type;
  t.operations = {
      {T::kWrite, "", "value of the empty key", "", false},
      {T::kWrite, "k", "", "", false},
      {T::kDelete, std::string("\0\xff", 2), "", "", false},
      {T::kRangeDelete, "a", "", "b", false},
      {T::kRangeDelete, "", "", "", true},
      {T::kRangeDelete, "z", "", "", true},
  };
  return t;
}

TEST_CASE("format: every operation kind, the empty key and empty values round-trip") {
  std::vector<OwnedTransaction> txns = {every_kind_of_operation(7)};
  OwnedTransaction empty;  // no request id, no operations
  empty.version = 8;
  empty.timestamp_ms = -5;  // before the epoch: deltas are signed
  txns.push_back(empty);
  BatchEncoder encoder;
  std::string bytes = test::encode_batch(encoder, 3, txns, "leader-xyz");
  BatchView batch = decode_ok(bytes);
  CHECK(batch.bytes().size() == bytes.size());
  CHECK(batch.header().prev_version == 3);
  CHECK(batch.header().first_version == 7);
  CHECK(batch.header().last_version == 8);
  CHECK(batch.header().transaction_count == 2);
  CHECK(batch.leader_id() == "leader-xyz");
  check_equal(decode_all(batch), txns);

  // prev_version chains through the batch.
  std::vector<uint64_t> prevs;
  for (const TransactionView& t : batch.transactions()) prevs.push_back(t.prev_version);
  CHECK(prevs == std::vector<uint64_t>{3, 7});
}

TEST_CASE("format: large values and many transactions round-trip") {
  std::vector<OwnedTransaction> txns;
  OwnedTransaction big;
  big.version = 1;
  big.request_id = "big";
  big.operations.push_back(
      {LogOperation::Type::kWrite, std::string(10'000, 'k'), std::string(1 << 20, 'v'), "", false});
  txns.push_back(big);
  for (uint64_t v = 2; v <= 20'000; ++v) {
    OwnedTransaction t;
    t.version = v * 3;  // versions need not be contiguous
    t.timestamp_ms = static_cast<int64_t>(1'700'000'000'000 + (v % 7) * 1000 - (v % 3) * 5000);
    t.request_id = std::to_string(v);  // "r" + to_string trips GCC 12's -Wrestrict (PR105329)
    t.operations.push_back({LogOperation::Type::kWrite, "key" + std::to_string(v), "x", "", false});
    txns.push_back(std::move(t));
  }
  BatchEncoder encoder;
  std::string bytes = test::encode_batch(encoder, 0, txns);
  BatchView batch = decode_ok(bytes);
  CHECK(batch.header().transaction_count == txns.size());
  check_equal(decode_all(batch), txns);
}

TEST_CASE("format: extreme versions and timestamps round-trip") {
  std::vector<OwnedTransaction> txns(3);
  txns[0].version = (uint64_t{1} << 53) - 3;
  txns[0].timestamp_ms = std::numeric_limits<int64_t>::max();
  txns[1].version = std::numeric_limits<uint64_t>::max() - 1;
  txns[1].timestamp_ms = std::numeric_limits<int64_t>::min();
  txns[2].version = std::numeric_limits<uint64_t>::max();
  txns[2].timestamp_ms = 0;
  BatchEncoder encoder;
  std::string bytes = test::encode_batch(encoder, 0, txns);
  check_equal(decode_all(decode_ok(bytes)), txns);
}

TEST_CASE("format: random batches round-trip and re-encode to the same bytes") {
  std::mt19937_64 rng(42);
  auto random_bytes = [&](size_t max) {
    std::string s(rng() % (max + 1), '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  BatchEncoder encoder;  // reused: begin() must reset everything
  for (int round = 0; round < 300; ++round) {
    uint64_t prev = rng() % 1000;
    std::vector<OwnedTransaction> txns(1 + rng() % 20);
    uint64_t v = prev;
    for (OwnedTransaction& t : txns) {
      v += 1 + rng() % 100'000;
      t.version = v;
      t.timestamp_ms = static_cast<int64_t>(rng());
      t.request_id = random_bytes(40);
      t.operations.resize(rng() % 8);
      for (OwnedOperation& op : t.operations) {
        op.type = static_cast<LogOperation::Type>(rng() % 3);
        op.key = random_bytes(300);
        if (op.type == LogOperation::Type::kWrite) op.value = random_bytes(2000);
        if (op.type == LogOperation::Type::kRangeDelete) {
          op.end_is_infinite = rng() % 2 == 0;
          if (!op.end_is_infinite) op.end = random_bytes(300);
        }
      }
    }
    std::string leader = random_bytes(kMaxLeaderIdBytes);
    std::string bytes = test::encode_batch(encoder, prev, txns, leader);
    BatchView batch = decode_ok(bytes);
    CHECK(batch.leader_id() == leader);
    std::vector<OwnedTransaction> decoded = decode_all(batch);
    check_equal(decoded, txns);
    // Canonical: the decoded content encodes to the very same bytes.
    BatchEncoder again;
    CHECK(test::encode_batch(again, prev, decoded, leader) == bytes);
    // The size bound holds.
    size_t bound = kBatchHeaderBytes + leader.size();
    for (const OwnedTransaction& t : txns) {
      std::vector<LogOperation> ops;
      for (const OwnedOperation& o : t.operations) {
        ops.push_back({o.type, o.key, o.value, o.end, o.end_is_infinite});
      }
      bound += BatchEncoder::max_transaction_bytes({t.version, t.timestamp_ms, t.request_id, ops});
    }
    CHECK(bytes.size() <= bound);
  }
}

TEST_CASE("format: encoded_bytes and counters follow the batch") {
  BatchEncoder encoder;
  encoder.begin(10);
  CHECK(encoder.encoded_bytes() == kBatchHeaderBytes);
  CHECK(encoder.transaction_count() == 0);
  CHECK(encoder.last_version() == 10);
  LogOperation op{LogOperation::Type::kDelete, "k", "", "", false};
  encoder.add({11, 0, "r", std::span(&op, 1)});
  CHECK(encoder.transaction_count() == 1);
  CHECK(encoder.last_version() == 11);
  size_t before_finish = encoder.encoded_bytes();
  std::string_view bytes = encoder.finish("L");
  CHECK(bytes.size() == before_finish + 1);
}

TEST_CASE("format: every single-byte change of a batch is detected as corrupt") {
  std::vector<OwnedTransaction> txns = {every_kind_of_operation(5)};
  txns.push_back(every_kind_of_operation(9));
  BatchEncoder encoder;
  const std::string original = test::encode_batch(encoder, 4, txns, "L1");
  REQUIRE(original.size() < 400);  // keep the exhaustive loop small
  size_t checked = 0;
  for (size_t i = 0; i < original.size(); ++i) {
    for (int x = 1; x < 256; ++x) {
      std::string bytes = original;
      bytes[i] = static_cast<char>(bytes[i] ^ x);
      BatchDecodeResult r = BatchView::decode(bytes);
      if (r.status != DecodeStatus::kCorrupt) {
        FAIL("byte " << i << " xor " << x << " decoded as " << decode_status_name(r.status));
      }
      checked += 1;
    }
  }
  CHECK(checked == original.size() * 255);
}

TEST_CASE("format: every strict prefix is truncated, never corrupt, and says what it needs") {
  std::string bytes = test::make_batch(0, 3);
  for (size_t n = 0; n < bytes.size(); ++n) {
    BatchDecodeResult r = BatchView::decode(std::string_view(bytes).substr(0, n));
    REQUIRE_MESSAGE(r.status == DecodeStatus::kTruncated, "prefix " << n << ": " << r.reason);
    CHECK(r.needed_bytes > n);
    CHECK(r.needed_bytes <= bytes.size());
  }
}

TEST_CASE("format: a batch followed by more bytes decodes to exactly the batch") {
  std::string first = test::make_batch(0, 2);
  std::string second = test::make_batch(2, 2);
  std::string stream = first + second;
  BatchView a = decode_ok(stream);
  CHECK(a.bytes() == first);
  BatchView b = decode_ok(std::string_view(stream).substr(a.bytes().size()));
  CHECK(b.bytes() == second);
  CHECK(b.header().prev_version == a.header().last_version);
}

TEST_CASE("format: header-only decoding gives the versions and the length") {
  std::string bytes = test::make_batch(100, 5, 10);
  BatchHeaderDecodeResult r =
      decode_batch_header(std::string_view(bytes).substr(0, kBatchHeaderBytes));
  REQUIRE(r.status == DecodeStatus::kOk);
  CHECK(r.header.prev_version == 100);
  CHECK(r.header.first_version == 110);
  CHECK(r.header.last_version == 150);
  CHECK(r.header.transaction_count == 5);
  CHECK(r.header.batch_bytes == bytes.size());
  CHECK(r.header.leader_id_bytes == std::string_view("leader-1").size());
}

TEST_CASE("format: structural damage behind valid checksums is corrupt") {
  std::string good = test::make_batch(0, 3);
  REQUIRE(decode_ok(good).header().last_version == 3);

  SUBCASE("header versions disagree with the records") {
    std::string b = good;
    coding::put_fixed<uint64_t>(b.data() + 32, 4);  // last_version
    reseal(b);
    CHECK(std::string(BatchView::decode(b).reason) ==
          "last transaction version differs from the header");
    b = good;
    coding::put_fixed<uint64_t>(b.data() + 24, 2);  // first_version
    reseal(b);
    CHECK(BatchView::decode(b).status == DecodeStatus::kCorrupt);
  }
  SUBCASE("transaction count disagrees with the records") {
    std::string b = good;
    coding::put_fixed<uint32_t>(b.data() + 12, 2);
    reseal(b);
    CHECK(BatchView::decode(b).status == DecodeStatus::kCorrupt);
    coding::put_fixed<uint32_t>(b.data() + 12, 1'000'000);
    reseal(b);
    CHECK(std::string(BatchView::decode(b).reason) == "transaction count out of range");
  }
  SUBCASE("leader id longer than the payload") {
    std::string b = good;
    coding::put_fixed<uint16_t>(b.data() + 6, 0xffff);
    reseal(b);
    CHECK(std::string(BatchView::decode(b).reason) == "leader id length out of range");
  }
  SUBCASE("unknown format version") {
    std::string b = good;
    coding::put_fixed<uint16_t>(b.data() + 4, 2);
    reseal(b);
    CHECK(std::string(BatchView::decode(b).reason) == "unsupported batch format version");
  }
  SUBCASE("a record length pointing past the batch") {
    std::string b = good;
    b[kBatchHeaderBytes] = static_cast<char>(0x7f);
    reseal(b);
    CHECK(BatchView::decode(b).status == DecodeStatus::kCorrupt);
  }
  SUBCASE("an unknown operation kind") {
    // First record: body_bytes, delta, timestamp (several bytes), request id, op count, kind.
    std::string b = good;
    BatchView view = decode_ok(b);
    TransactionRange::Iterator first = view.transactions().begin();
    const TransactionView& t = *first;
    size_t kind_offset =
        static_cast<size_t>(t.request_id.data() + t.request_id.size() + 1 - b.data());
    REQUIRE(b[kind_offset] == 0);  // a write
    b[kind_offset] = 9;
    reseal(b);
    CHECK(std::string(BatchView::decode(b).reason) == "malformed operation");
  }
  SUBCASE("the batch length claims more than the maximum") {
    std::string b = good;
    coding::put_fixed<uint32_t>(b.data() + 8, static_cast<uint32_t>(kMaxBatchBytes + 1));
    reseal(b);
    CHECK(std::string(BatchView::decode(b).reason) == "batch length out of range");
  }
}

TEST_CASE("coding: varints round-trip and non-canonical or overlong ones are rejected") {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{300},
                     uint64_t{1} << 35, std::numeric_limits<uint64_t>::max()}) {
    char buf[coding::kMaxVarintBytes];
    char* end = coding::put_varint(buf, v);
    CHECK(static_cast<size_t>(end - buf) == coding::varint_bytes(v));
    coding::ByteCursor c(std::string_view(buf, static_cast<size_t>(end - buf)));
    uint64_t out = 0;
    CHECK(c.get_varint(&out));
    CHECK(out == v);
    CHECK(c.empty());
  }
  uint64_t out;
  coding::ByteCursor redundant(std::string_view("\x80\x00", 2));
  CHECK_FALSE(redundant.get_varint(&out));
  coding::ByteCursor eleven(std::string_view("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11));
  CHECK_FALSE(eleven.get_varint(&out));
  coding::ByteCursor tenth_too_big(
      std::string_view("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10));
  CHECK_FALSE(tenth_too_big.get_varint(&out));
  coding::ByteCursor unterminated(std::string_view("\xff\xff", 2));
  CHECK_FALSE(unterminated.get_varint(&out));
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, std::numeric_limits<int64_t>::min(),
                    std::numeric_limits<int64_t>::max()}) {
    CHECK(coding::unzigzag(coding::zigzag(v)) == v);
  }
  CHECK(coding::zigzag(-1) == 1);
  CHECK(coding::zigzag(1) == 2);
}

}  // namespace
}  // namespace weasel
