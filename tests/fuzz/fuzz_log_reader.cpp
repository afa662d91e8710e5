// libFuzzer target for the log's batch reader (src/log/log_format.hpp): the code that reads
// bytes from disk, S3 and the network must never crash, hang or read out of bounds, and
// everything it accepts must be exactly what the encoder produces.
//
// The first input byte picks a mode:
//   even: the rest is a stream of batches back to back (a segment file, a subscriber feed).
//   odd:  the rest is one batch whose length field and checksums are set from the input
//         first, so the fuzzer gets past the checksums to the record structure.
// Every batch that decodes is walked completely and re-encoded, which must give the very
// same bytes (the format is canonical).

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "log/coding.hpp"
#include "log/log_format.hpp"

namespace {

using weasel::BatchView;
using weasel::DecodeStatus;

void require(bool condition) {
  if (!condition) std::abort();
}

// Offsets from the layout in log_format.hpp.
constexpr size_t kBatchBytesOffset = 8;
constexpr size_t kPayloadChecksumOffset = 40;
constexpr size_t kHeaderChecksumOffset = 48;

void seal(std::string& batch) {
  namespace coding = weasel::coding;
  coding::put_fixed<uint32_t>(batch.data() + kBatchBytesOffset,
                              static_cast<uint32_t>(batch.size()));
  coding::put_fixed<uint64_t>(batch.data() + kPayloadChecksumOffset,
                              XXH3_64bits(batch.data() + weasel::kBatchHeaderBytes,
                                          batch.size() - weasel::kBatchHeaderBytes));
  coding::put_fixed<uint64_t>(batch.data() + kHeaderChecksumOffset,
                              XXH3_64bits(batch.data(), kHeaderChecksumOffset));
}

void check_batch(const BatchView& batch) {
  const weasel::BatchHeader& h = batch.header();
  weasel::BatchEncoder encoder;
  encoder.begin(h.prev_version);
  std::vector<weasel::LogOperation> ops;
  uint64_t prev = h.prev_version;
  uint32_t count = 0;
  for (const weasel::TransactionView& txn : batch.transactions()) {
    require(txn.prev_version == prev && txn.version > prev);
    prev = txn.version;
    ops.clear();
    for (const weasel::LogOperation& op : txn.operations) ops.push_back(op);
    require(ops.size() == txn.operations.size());
    encoder.add({txn.version, txn.timestamp_ms, txn.request_id, ops});
    count += 1;
  }
  require(count == h.transaction_count && prev == h.last_version);
  require(encoder.finish(batch.leader_id()) == batch.bytes());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) != 0) {
    if (input.size() < weasel::kBatchHeaderBytes || input.size() > weasel::kMaxBatchBytes) {
      return 0;
    }
    std::string batch(input);
    seal(batch);
    weasel::BatchDecodeResult r = BatchView::decode(batch);
    if (r.status == DecodeStatus::kOk) check_batch(r.batch);
    return 0;
  }
  while (!input.empty()) {
    weasel::BatchHeaderDecodeResult header = weasel::decode_batch_header(input);
    weasel::BatchDecodeResult r = BatchView::decode(input);
    // The header verdict never contradicts the full one.
    if (header.status == DecodeStatus::kCorrupt) require(r.status == DecodeStatus::kCorrupt);
    if (r.status == DecodeStatus::kOk) require(header.status == DecodeStatus::kOk);
    if (r.status != DecodeStatus::kOk) {
      if (r.status == DecodeStatus::kTruncated) require(r.needed_bytes > input.size());
      return 0;
    }
    check_batch(r.batch);
    input.remove_prefix(r.batch.bytes().size());
  }
  return 0;
}
