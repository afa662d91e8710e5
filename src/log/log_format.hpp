#pragma once
// The log's batch format: a group of committed transactions with increasing versions, encoded
// once and never rewritten. The same bytes go to disk, to S3 and to subscribers.
//
// Layout (all integers little-endian; "varint" is LEB128, canonical):
//
//   offset  size  field
//   0       4     magic "WLOG"
//   4       2     format version (1)
//   6       2     leader_id_bytes
//   8       4     batch_bytes: the whole batch, header included
//   12      4     transaction_count (>= 1)
//   16      8     prev_version: version of the last transaction before this batch (0: none)
//   24      8     first_version
//   32      8     last_version
//   40      8     payload_checksum: XXH3-64 of bytes [56, batch_bytes)
//   48      8     header_checksum:  XXH3-64 of bytes [0, 48)
//   56      ...   transaction_count records, then the leader id (leader_id_bytes bytes)
//
//   record := varint body_bytes, body
//   body   := varint version_delta      (>= 1; from the previous record, the first from
//   prev_version)
//             varint zigzag(timestamp_ms delta)   (from the previous record, the first from 0)
//             varint request_id_bytes, request_id
//             varint operation_count, operation*
//   operation := u8 kind, varint key_bytes, key, then by kind:
//             0 write:              varint value_bytes, value
//             1 delete:             nothing
//             2 range delete [key, end):  varint end_bytes, end
//             3 range delete [key, +inf): nothing
//
// Why this shape: the fixed header is self-checked, so a damaged length field reads as
// "corrupt", never as "truncated, wait for more bytes" (which recovery would take for a torn
// write); the header checksum covers the payload checksum, so together they cover every byte.
// Records are length-prefixed so a scan (status lookups by request id) can skip operations.
// The leader id goes last so finish() needs no memmove.
//
// Contract
// - BatchEncoder: begin(prev_version), add() transactions with strictly increasing versions
//   (> prev_version), finish(leader_id). The returned bytes live in the encoder until the next
//   begin() or its destruction. The buffer is reused: no allocation once it has grown.
//   Misuse (add before begin, non-increasing version, empty batch, a batch over
//   kMaxBatchBytes, a request id over kMaxRequestIdBytes, a leader id over kMaxLeaderIdBytes)
//   is a bug and aborts; callers bound batches with encoded_bytes() and
//   max_transaction_bytes().
// - BatchView::decode validates the header, the length, both checksums and the whole record
//   structure (every length, count and version), so iterating a decoded batch cannot fail.
//   Errors say kTruncated (the bytes so far are a valid prefix: give at least needed_bytes)
//   or kCorrupt (no amount of further bytes helps). Decoding never allocates.
// - Views (BatchView, TransactionView, LogOperation) borrow the decoded bytes: they must
//   outlive every view and every string_view taken from them.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>

#include "log/coding.hpp"

namespace weasel {

struct LogOperation {
  enum class Type : uint8_t { kWrite, kDelete, kRangeDelete };
  Type type = Type::kWrite;
  std::string_view key;          // kRangeDelete: the range's begin
  std::string_view value;        // kWrite only
  std::string_view end;          // kRangeDelete only, when !end_is_infinite
  bool end_is_infinite = false;  // kRangeDelete only: [key, end of the key space)
};

struct LogTransaction {
  uint64_t version = 0;
  int64_t timestamp_ms = 0;  // commit time, milliseconds since the Unix epoch
  std::string_view request_id;
  std::span<const LogOperation> operations;
};

inline constexpr uint32_t kBatchMagic = 0x474f4c57;  // "WLOG" in file order
inline constexpr uint16_t kBatchFormatVersion = 1;
inline constexpr size_t kBatchHeaderBytes = 56;
inline constexpr size_t kMaxBatchBytes = size_t{1} << 28;  // 256 MiB
inline constexpr size_t kMaxLeaderIdBytes = 256;
inline constexpr size_t kMaxRequestIdBytes = 1024;

struct BatchHeader {
  uint16_t format_version = 0;
  uint16_t leader_id_bytes = 0;
  uint32_t batch_bytes = 0;
  uint32_t transaction_count = 0;
  uint64_t prev_version = 0;
  uint64_t first_version = 0;
  uint64_t last_version = 0;
  uint64_t payload_checksum = 0;
};

enum class DecodeStatus : uint8_t { kOk, kTruncated, kCorrupt };

class BatchEncoder {
 public:
  BatchEncoder() = default;

  // Starts a new batch whose first transaction follows `prev_version`.
  void begin(uint64_t prev_version);
  void add(const LogTransaction& txn);
  // Completes the header and checksums. The view is valid until the next begin().
  std::string_view finish(std::string_view leader_id);

  // Bytes the batch would take if finished now with an empty leader id.
  size_t encoded_bytes() const { return buffer_.size(); }
  // An upper bound on the bytes add(txn) appends, to keep a batch under a size limit.
  static size_t max_transaction_bytes(const LogTransaction& txn);
  uint32_t transaction_count() const { return transaction_count_; }
  uint64_t last_version() const { return last_version_; }

 private:
  enum class State : uint8_t { kIdle, kOpen, kFinished };

  std::string buffer_;
  State state_ = State::kIdle;
  uint32_t transaction_count_ = 0;
  uint64_t prev_version_ = 0;
  uint64_t first_version_ = 0;
  uint64_t last_version_ = 0;
  int64_t last_timestamp_ms_ = 0;
};

// Operations of one decoded transaction, in commit order (a later one on the same key wins).
class OperationRange {
 public:
  class Iterator {
   public:
    using value_type = LogOperation;
    using difference_type = std::ptrdiff_t;

    Iterator() = default;
    const LogOperation& operator*() const { return op_; }
    const LogOperation* operator->() const { return &op_; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return !has_op_; }

   private:
    friend class OperationRange;
    Iterator(coding::ByteCursor cursor, uint32_t count);

    coding::ByteCursor cursor_;
    uint32_t remaining_ = 0;  // operations not yet parsed
    bool has_op_ = false;
    LogOperation op_;
  };

  OperationRange() = default;
  // `cursor` is positioned on the first of `count` operations of a validated record.
  OperationRange(coding::ByteCursor cursor, uint32_t count) : cursor_(cursor), count_(count) {}
  Iterator begin() const { return Iterator(cursor_, count_); }
  std::default_sentinel_t end() const { return {}; }
  uint32_t size() const { return count_; }
  bool empty() const { return count_ == 0; }

 private:
  coding::ByteCursor cursor_;
  uint32_t count_ = 0;
};

struct TransactionView {
  uint64_t version = 0;
  uint64_t prev_version = 0;  // the previous transaction's version (the batch's for the first)
  int64_t timestamp_ms = 0;
  std::string_view request_id;
  OperationRange operations;
};

class TransactionRange {
 public:
  class Iterator {
   public:
    using value_type = TransactionView;
    using difference_type = std::ptrdiff_t;

    Iterator() = default;
    const TransactionView& operator*() const { return txn_; }
    const TransactionView* operator->() const { return &txn_; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return !has_txn_; }

   private:
    friend class TransactionRange;
    Iterator(coding::ByteCursor cursor, uint32_t count, uint64_t prev_version);

    coding::ByteCursor cursor_;
    uint32_t remaining_ = 0;
    bool has_txn_ = false;
    TransactionView txn_;
  };

  TransactionRange() = default;
  TransactionRange(std::string_view records, uint32_t count, uint64_t prev_version)
      : records_(records), count_(count), prev_version_(prev_version) {}
  Iterator begin() const { return Iterator(coding::ByteCursor(records_), count_, prev_version_); }
  std::default_sentinel_t end() const { return {}; }
  uint32_t size() const { return count_; }

 private:
  std::string_view records_;
  uint32_t count_ = 0;
  uint64_t prev_version_ = 0;
};

struct BatchHeaderDecodeResult {
  DecodeStatus status = DecodeStatus::kCorrupt;
  size_t needed_bytes = 0;  // kTruncated: bytes needed from the batch start (a lower bound)
  const char* reason = "";  // static text for errors
  BatchHeader header;       // kOk
};

struct BatchDecodeResult;

// A validated batch over borrowed bytes. Default-constructed: empty, not a batch.
class BatchView {
 public:
  // Decodes the batch at the start of `bytes`; `bytes` may continue past it (a file, a
  // stream). On kOk, result.batch.bytes().size() == result.batch.header().batch_bytes.
  static BatchDecodeResult decode(std::string_view bytes);

  BatchView() = default;
  const BatchHeader& header() const { return header_; }
  std::string_view bytes() const { return bytes_; }
  std::string_view leader_id() const;
  TransactionRange transactions() const;

 private:
  BatchHeader header_;
  std::string_view bytes_;
};

struct BatchDecodeResult {
  DecodeStatus status = DecodeStatus::kCorrupt;
  size_t needed_bytes = 0;  // kTruncated: bytes needed from the batch start (a lower bound)
  const char* reason = "";  // static text for errors
  BatchView batch;          // kOk
};

// Validates only the fixed header (magic, format, header checksum, field sanity): enough to
// learn a batch's versions and length, e.g. to skip it, without reading its payload.
BatchHeaderDecodeResult decode_batch_header(std::string_view bytes);

const char* decode_status_name(DecodeStatus status);

}  // namespace weasel
