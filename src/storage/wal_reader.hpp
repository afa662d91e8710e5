#pragma once
// WalReader: replays the logical records of a WAL file (format: wal_format.hpp).
//
// Contract
// - read_record() returns true with the next record, or false at the end of the log; then
//   status() is ok (a clean end, or a torn tail) or corruption.
// - A torn tail, what a crash leaves after the last durable write, ends the log cleanly
//   (torn_tail() tells where it began). It is one of:
//     the file ends inside a header or inside the payload a valid header announces;
//     a header of zeros, with only zeros after it up to the end of the file;
//     the last fragment of the file (only zeros after it) failing its checksum;
//     a record whose first fragments are there but not its last.
//   A record in a torn tail was never acknowledged as durable with a synced write... or its
//   bytes are damaged beyond telling apart: both end the replay there.
// - Anything else is corruption, reported with its file offset, and ends the replay: a header
//   failing its check, a fragment crossing a block, a bad checksum followed by more data,
//   non-zero block padding, fragments out of order. Records before it were returned intact.
// - Never returns a record that was not written as such.
//
// Ownership: borrows the file (which must outlive the reader). The view from read_record()
// points into the reader's buffers and is valid until the next call. Single-threaded.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/file.hpp"
#include "storage/wal_format.hpp"

namespace weaseldb::storage {

class WalReader {
 public:
  struct TornTail {
    uint64_t offset = 0;  // where the dropped bytes begin
    std::string reason;
  };

  // `name` is used in messages (the file's path).
  WalReader(SequentialFile* file, std::string name);

  bool read_record(std::string_view* record);
  const Status& status() const { return status_; }
  const std::optional<TornTail>& torn_tail() const { return torn_tail_; }
  // File offset of the first byte of the last record returned.
  uint64_t last_record_offset() const { return last_record_offset_; }

 private:
  enum class Fragment { kFull, kFirst, kMiddle, kLast, kEnd };

  Fragment read_fragment(std::string_view* payload, uint64_t* offset);
  Fragment parse_fragment(std::string_view* payload, uint64_t* offset);
  bool refill();
  bool rest_is_zero(size_t skip);
  Fragment end_torn(uint64_t offset, std::string reason);
  Fragment end_corrupt(uint64_t offset, const std::string& reason);
  uint64_t buffer_offset() const { return buffer_end_offset_ - buffer_.size(); }

  SequentialFile* file_;
  std::string name_;
  std::string block_;  // backing store of buffer_
  std::string_view buffer_;
  uint64_t buffer_end_offset_ = 0;  // file offset just past the bytes read so far
  bool eof_ = false;
  std::string record_;  // assembles fragmented records
  uint64_t last_record_offset_ = 0;
  Status status_;
  std::optional<TornTail> torn_tail_;
  bool ended_ = false;
};

}  // namespace weaseldb::storage
