#include "log/log_format.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/assert.hpp"

namespace weasel {
namespace {

using coding::ByteCursor;

// Header field offsets (see the layout in log_format.hpp).
constexpr size_t kMagicOffset = 0;
constexpr size_t kFormatOffset = 4;
constexpr size_t kLeaderBytesOffset = 6;
constexpr size_t kBatchBytesOffset = 8;
constexpr size_t kCountOffset = 12;
constexpr size_t kPrevVersionOffset = 16;
constexpr size_t kFirstVersionOffset = 24;
constexpr size_t kLastVersionOffset = 32;
constexpr size_t kPayloadChecksumOffset = 40;
constexpr size_t kHeaderChecksumOffset = 48;
static_assert(kHeaderChecksumOffset + 8 == kBatchHeaderBytes);

// The smallest record: body_bytes, version delta, timestamp, request id length and operation
// count, one byte each. Bounds transaction_count before any record is parsed.
constexpr size_t kMinRecordBytes = 5;

enum OperationKind : uint8_t {
  kKindWrite = 0,
  kKindDelete = 1,
  kKindRangeDelete = 2,
  kKindRangeDeleteToEnd = 3,
};

uint64_t checksum(const char* data, size_t bytes) {
  return XXH3_64bits(data, bytes);
}

uint64_t header_checksum(const char* header) {
  return checksum(header, kHeaderChecksumOffset);
}

bool parse_operation(ByteCursor& cursor, LogOperation* op) {
  uint8_t kind;
  if (!cursor.get_u8(&kind) || !cursor.get_length_prefixed(&op->key)) return false;
  op->value = {};
  op->end = {};
  op->end_is_infinite = false;
  switch (kind) {
    case kKindWrite:
      op->type = LogOperation::Type::kWrite;
      return cursor.get_length_prefixed(&op->value);
    case kKindDelete:
      op->type = LogOperation::Type::kDelete;
      return true;
    case kKindRangeDelete:
      op->type = LogOperation::Type::kRangeDelete;
      return cursor.get_length_prefixed(&op->end);
    case kKindRangeDeleteToEnd:
      op->type = LogOperation::Type::kRangeDelete;
      op->end_is_infinite = true;
      return true;
    default:
      return false;
  }
}

// Parses the record at `cursor`. On entry txn holds the previous transaction's version and
// timestamp (the batch's prev_version and 0 for the first). On success txn describes the record
// and `cursor` sits after it; operations are not parsed: *ops is left on the first one, ending
// where the record ends (see validate_operations).
bool parse_record(ByteCursor& cursor, TransactionView* txn, ByteCursor* ops, const char** reason) {
  std::string_view body;
  if (!cursor.get_length_prefixed(&body)) {
    *reason = "transaction record overruns the batch";
    return false;
  }
  ByteCursor b(body);
  uint64_t version_delta, timestamp_zigzag, operation_count;
  if (!b.get_varint(&version_delta) || !b.get_varint(&timestamp_zigzag) ||
      !b.get_length_prefixed(&txn->request_id) || !b.get_varint(&operation_count)) {
    *reason = "malformed transaction record";
    return false;
  }
  if (version_delta == 0 || version_delta > std::numeric_limits<uint64_t>::max() - txn->version) {
    *reason = "transaction versions do not increase";
    return false;
  }
  if (txn->request_id.size() > kMaxRequestIdBytes) {
    *reason = "request id too long";
    return false;
  }
  // Every operation takes at least two bytes (kind, key length).
  if (operation_count > b.remaining() / 2) {
    *reason = "operation count exceeds the record";
    return false;
  }
  txn->prev_version = txn->version;
  txn->version += version_delta;
  txn->timestamp_ms =
      static_cast<int64_t>(static_cast<uint64_t>(txn->timestamp_ms) +
                           static_cast<uint64_t>(coding::unzigzag(timestamp_zigzag)));
  txn->operations = OperationRange(b, static_cast<uint32_t>(operation_count));
  *ops = b;
  return true;
}

// Walks every operation of a parsed record; the record must end exactly after the last.
bool validate_operations(ByteCursor ops, uint32_t count) {
  LogOperation op;
  for (uint32_t i = 0; i < count; ++i) {
    if (!parse_operation(ops, &op)) return false;
  }
  return ops.empty();
}

size_t operation_bytes(const LogOperation& op) {
  size_t n = 1 + coding::varint_bytes(op.key.size()) + op.key.size();
  switch (op.type) {
    case LogOperation::Type::kWrite:
      return n + coding::varint_bytes(op.value.size()) + op.value.size();
    case LogOperation::Type::kDelete:
      return n;
    case LogOperation::Type::kRangeDelete:
      return op.end_is_infinite ? n : n + coding::varint_bytes(op.end.size()) + op.end.size();
  }
  WEASEL_ASSERT_MSG(false, "unknown operation type");
  return 0;
}

char* put_bytes(char* out, std::string_view s) {
  out = coding::put_varint(out, s.size());
  if (!s.empty()) std::memcpy(out, s.data(), s.size());
  return out + s.size();
}

char* put_operation(char* out, const LogOperation& op) {
  switch (op.type) {
    case LogOperation::Type::kWrite:
      *out++ = static_cast<char>(kKindWrite);
      out = put_bytes(out, op.key);
      return put_bytes(out, op.value);
    case LogOperation::Type::kDelete:
      *out++ = static_cast<char>(kKindDelete);
      return put_bytes(out, op.key);
    case LogOperation::Type::kRangeDelete:
      *out++ = static_cast<char>(op.end_is_infinite ? kKindRangeDeleteToEnd : kKindRangeDelete);
      out = put_bytes(out, op.key);
      return op.end_is_infinite ? out : put_bytes(out, op.end);
  }
  WEASEL_ASSERT_MSG(false, "unknown operation type");
  return out;
}

BatchHeaderDecodeResult header_error(DecodeStatus status, const char* reason, size_t needed = 0) {
  BatchHeaderDecodeResult r;
  r.status = status;
  r.reason = reason;
  r.needed_bytes = needed;
  return r;
}

// Field sanity beyond the header checksum: a header that passes is internally consistent.
const char* check_header_fields(const BatchHeader& h) {
  if (h.format_version != kBatchFormatVersion) return "unsupported batch format version";
  if (h.batch_bytes < kBatchHeaderBytes || h.batch_bytes > kMaxBatchBytes) {
    return "batch length out of range";
  }
  size_t payload_bytes = h.batch_bytes - kBatchHeaderBytes;
  if (h.leader_id_bytes > kMaxLeaderIdBytes || h.leader_id_bytes > payload_bytes) {
    return "leader id length out of range";
  }
  if (h.transaction_count == 0 ||
      h.transaction_count > (payload_bytes - h.leader_id_bytes) / kMinRecordBytes) {
    return "transaction count out of range";
  }
  if (h.first_version <= h.prev_version || h.last_version < h.first_version ||
      h.last_version - h.first_version < h.transaction_count - 1) {
    return "batch versions out of order";
  }
  return nullptr;
}

}  // namespace

// ---- encoder ----

void BatchEncoder::begin(uint64_t prev_version) {
  buffer_.clear();
  buffer_.resize(kBatchHeaderBytes);
  state_ = State::kOpen;
  transaction_count_ = 0;
  prev_version_ = prev_version;
  first_version_ = 0;
  last_version_ = prev_version;
  last_timestamp_ms_ = 0;
}

size_t BatchEncoder::max_transaction_bytes(const LogTransaction& txn) {
  size_t body = 2 * coding::kMaxVarintBytes + coding::varint_bytes(txn.request_id.size()) +
                txn.request_id.size() + coding::varint_bytes(txn.operations.size());
  for (const LogOperation& op : txn.operations) body += operation_bytes(op);
  return coding::varint_bytes(body) + body;
}

void BatchEncoder::add(const LogTransaction& txn) {
  WEASEL_ASSERT(state_ == State::kOpen);
  WEASEL_ASSERT(txn.version > last_version_);
  WEASEL_ASSERT(txn.request_id.size() <= kMaxRequestIdBytes);
  WEASEL_ASSERT(txn.operations.size() <= std::numeric_limits<uint32_t>::max());
  WEASEL_ASSERT(transaction_count_ < std::numeric_limits<uint32_t>::max());

  uint64_t version_delta = txn.version - last_version_;
  uint64_t timestamp_zigzag = coding::zigzag(static_cast<int64_t>(
      static_cast<uint64_t>(txn.timestamp_ms) - static_cast<uint64_t>(last_timestamp_ms_)));
  size_t body = coding::varint_bytes(version_delta) + coding::varint_bytes(timestamp_zigzag) +
                coding::varint_bytes(txn.request_id.size()) + txn.request_id.size() +
                coding::varint_bytes(txn.operations.size());
  for (const LogOperation& op : txn.operations) body += operation_bytes(op);
  size_t record = coding::varint_bytes(body) + body;
  WEASEL_ASSERT_MSG(record <= kMaxBatchBytes - buffer_.size(), "batch exceeds kMaxBatchBytes");

  size_t start = buffer_.size();
  buffer_.resize(start + record);
  char* out = buffer_.data() + start;
  out = coding::put_varint(out, body);
  out = coding::put_varint(out, version_delta);
  out = coding::put_varint(out, timestamp_zigzag);
  out = put_bytes(out, txn.request_id);
  out = coding::put_varint(out, txn.operations.size());
  for (const LogOperation& op : txn.operations) out = put_operation(out, op);
  WEASEL_ASSERT(out == buffer_.data() + buffer_.size());

  if (transaction_count_ == 0) first_version_ = txn.version;
  transaction_count_ += 1;
  last_version_ = txn.version;
  last_timestamp_ms_ = txn.timestamp_ms;
}

std::string_view BatchEncoder::finish(std::string_view leader_id) {
  WEASEL_ASSERT(state_ == State::kOpen);
  WEASEL_ASSERT_MSG(transaction_count_ > 0, "a batch holds at least one transaction");
  WEASEL_ASSERT(leader_id.size() <= kMaxLeaderIdBytes);
  WEASEL_ASSERT_MSG(leader_id.size() <= kMaxBatchBytes - buffer_.size(),
                    "batch exceeds kMaxBatchBytes");
  buffer_.append(leader_id);

  char* h = buffer_.data();
  coding::put_fixed<uint32_t>(h + kMagicOffset, kBatchMagic);
  coding::put_fixed<uint16_t>(h + kFormatOffset, kBatchFormatVersion);
  coding::put_fixed<uint16_t>(h + kLeaderBytesOffset, static_cast<uint16_t>(leader_id.size()));
  coding::put_fixed<uint32_t>(h + kBatchBytesOffset, static_cast<uint32_t>(buffer_.size()));
  coding::put_fixed<uint32_t>(h + kCountOffset, transaction_count_);
  coding::put_fixed<uint64_t>(h + kPrevVersionOffset, prev_version_);
  coding::put_fixed<uint64_t>(h + kFirstVersionOffset, first_version_);
  coding::put_fixed<uint64_t>(h + kLastVersionOffset, last_version_);
  coding::put_fixed<uint64_t>(h + kPayloadChecksumOffset,
                              checksum(h + kBatchHeaderBytes, buffer_.size() - kBatchHeaderBytes));
  coding::put_fixed<uint64_t>(h + kHeaderChecksumOffset, header_checksum(h));
  state_ = State::kFinished;
  return buffer_;
}

// ---- decoder ----

BatchHeaderDecodeResult decode_batch_header(std::string_view bytes) {
  char magic[4];
  coding::put_fixed<uint32_t>(magic, kBatchMagic);
  size_t magic_bytes = std::min(bytes.size(), sizeof(magic));
  if (std::memcmp(bytes.data(), magic, magic_bytes) != 0) {
    return header_error(DecodeStatus::kCorrupt, "bad magic");
  }
  if (bytes.size() < kBatchHeaderBytes) {
    return header_error(DecodeStatus::kTruncated, "incomplete batch header", kBatchHeaderBytes);
  }
  const char* h = bytes.data();
  if (coding::get_fixed<uint64_t>(h + kHeaderChecksumOffset) != header_checksum(h)) {
    return header_error(DecodeStatus::kCorrupt, "header checksum mismatch");
  }
  BatchHeaderDecodeResult r;
  r.header.format_version = coding::get_fixed<uint16_t>(h + kFormatOffset);
  r.header.leader_id_bytes = coding::get_fixed<uint16_t>(h + kLeaderBytesOffset);
  r.header.batch_bytes = coding::get_fixed<uint32_t>(h + kBatchBytesOffset);
  r.header.transaction_count = coding::get_fixed<uint32_t>(h + kCountOffset);
  r.header.prev_version = coding::get_fixed<uint64_t>(h + kPrevVersionOffset);
  r.header.first_version = coding::get_fixed<uint64_t>(h + kFirstVersionOffset);
  r.header.last_version = coding::get_fixed<uint64_t>(h + kLastVersionOffset);
  r.header.payload_checksum = coding::get_fixed<uint64_t>(h + kPayloadChecksumOffset);
  if (const char* reason = check_header_fields(r.header)) {
    return header_error(DecodeStatus::kCorrupt, reason);
  }
  r.status = DecodeStatus::kOk;
  return r;
}

BatchDecodeResult BatchView::decode(std::string_view bytes) {
  BatchDecodeResult r;
  BatchHeaderDecodeResult hr = decode_batch_header(bytes);
  if (hr.status != DecodeStatus::kOk) {
    r.status = hr.status;
    r.needed_bytes = hr.needed_bytes;
    r.reason = hr.reason;
    return r;
  }
  const BatchHeader& h = hr.header;
  if (bytes.size() < h.batch_bytes) {
    r.status = DecodeStatus::kTruncated;
    r.needed_bytes = h.batch_bytes;
    r.reason = "incomplete batch";
    return r;
  }
  const char* payload = bytes.data() + kBatchHeaderBytes;
  if (checksum(payload, h.batch_bytes - kBatchHeaderBytes) != h.payload_checksum) {
    r.reason = "payload checksum mismatch";
    return r;
  }

  std::string_view records(payload, h.batch_bytes - kBatchHeaderBytes - h.leader_id_bytes);
  ByteCursor cursor(records);
  TransactionView txn;
  txn.version = h.prev_version;
  ByteCursor ops;
  for (uint32_t i = 0; i < h.transaction_count; ++i) {
    if (!parse_record(cursor, &txn, &ops, &r.reason)) return r;
    if (i == 0 && txn.version != h.first_version) {
      r.reason = "first transaction version differs from the header";
      return r;
    }
    if (!validate_operations(ops, txn.operations.size())) {
      r.reason = "malformed operation";
      return r;
    }
  }
  if (txn.version != h.last_version) {
    r.reason = "last transaction version differs from the header";
    return r;
  }
  if (!cursor.empty()) {
    r.reason = "bytes after the last transaction record";
    return r;
  }
  r.status = DecodeStatus::kOk;
  r.reason = "";
  r.batch.header_ = h;
  r.batch.bytes_ = bytes.substr(0, h.batch_bytes);
  return r;
}

std::string_view BatchView::leader_id() const {
  WEASEL_ASSERT(bytes_.size() == header_.batch_bytes);
  return bytes_.substr(bytes_.size() - header_.leader_id_bytes);
}

TransactionRange BatchView::transactions() const {
  WEASEL_ASSERT(bytes_.size() == header_.batch_bytes);
  std::string_view records =
      bytes_.substr(kBatchHeaderBytes, bytes_.size() - kBatchHeaderBytes - header_.leader_id_bytes);
  return TransactionRange(records, header_.transaction_count, header_.prev_version);
}

// ---- iteration over validated bytes: a parse failure here is a bug ----

OperationRange::Iterator::Iterator(coding::ByteCursor cursor, uint32_t count)
    : cursor_(cursor), remaining_(count) {
  ++*this;
}

OperationRange::Iterator& OperationRange::Iterator::operator++() {
  has_op_ = remaining_ > 0;
  if (has_op_) {
    remaining_ -= 1;
    bool parsed = parse_operation(cursor_, &op_);
    WEASEL_ASSERT(parsed);
  }
  return *this;
}

TransactionRange::Iterator::Iterator(coding::ByteCursor cursor, uint32_t count,
                                     uint64_t prev_version)
    : cursor_(cursor), remaining_(count) {
  txn_.version = prev_version;
  txn_.timestamp_ms = 0;
  ++*this;
}

TransactionRange::Iterator& TransactionRange::Iterator::operator++() {
  has_txn_ = remaining_ > 0;
  if (has_txn_) {
    remaining_ -= 1;
    const char* reason = nullptr;
    ByteCursor ops;
    bool parsed = parse_record(cursor_, &txn_, &ops, &reason);
    WEASEL_ASSERT_MSG(parsed, reason);
  }
  return *this;
}

const char* decode_status_name(DecodeStatus status) {
  switch (status) {
    case DecodeStatus::kOk:
      return "ok";
    case DecodeStatus::kTruncated:
      return "truncated";
    case DecodeStatus::kCorrupt:
      return "corrupt";
  }
  return "unknown";
}

}  // namespace weasel
