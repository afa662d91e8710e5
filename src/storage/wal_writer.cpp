#include "storage/wal_writer.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "core/assert.hpp"
#include "storage/coding.hpp"

namespace weaseldb::storage {

using wal::kBlockBytes;
using wal::kHeaderBytes;
using wal::RecordType;

namespace {

// The header of a fragment of `length` bytes, its checksum left zero.
void encode_header_fields(char* header, RecordType type, size_t length) {
  WEASEL_ASSERT(length <= wal::kMaxFragmentBytes);
  auto n = static_cast<uint16_t>(length);
  auto type_byte = static_cast<uint8_t>(type);
  put_fixed32(header, 0);
  header[4] = static_cast<char>(n & 0xff);
  header[5] = static_cast<char>(n >> 8);
  header[6] = static_cast<char>(type_byte);
  header[7] = static_cast<char>(wal::header_check(n, type_byte));
}

void encode_header(char* header, RecordType type, std::string_view payload) {
  encode_header_fields(header, type, payload.size());
  put_fixed32(header, wal::fragment_checksum(payload, static_cast<uint8_t>(type)));
}

}  // namespace

WalWriter::WalWriter(WritableFile* file, uint64_t file_offset)
    : file_(file), block_offset_(file_offset % kBlockBytes) {}

Status WalWriter::add_record(std::string_view record) {
  static constexpr char kZeros[kHeaderBytes] = {};
  bool first = true;
  do {
    size_t leftover = kBlockBytes - block_offset_;
    if (leftover < kHeaderBytes) {
      if (leftover > 0) {
        Status s = file_->append(std::string_view(kZeros, leftover));
        if (!s.ok()) return s;
      }
      block_offset_ = 0;
    }
    size_t room = kBlockBytes - block_offset_ - kHeaderBytes;
    size_t fragment = std::min(record.size(), room);
    bool last = fragment == record.size();
    RecordType type = first && last ? RecordType::kFull
                      : first       ? RecordType::kFirst
                      : last        ? RecordType::kLast
                                    : RecordType::kMiddle;
    Status s = emit_fragment(type, record.substr(0, fragment));
    if (!s.ok()) return s;
    record.remove_prefix(fragment);
    first = false;
  } while (!record.empty());
  return {};
}

Status WalWriter::add_record(std::string_view head, std::string_view tail) {
  size_t bytes = kHeaderBytes + head.size() + tail.size();
  // One kFull fragment in the current block, written where it will stay: the checksum reads
  // the payload from there, still in cache, and no scratch copy is made.
  if (bytes <= kBlockBytes - block_offset_) {
    if (char* p = file_->reserve(bytes)) {
      // In the order a process killed midway must leave them (the mapping's bytes outlive
      // it): the header with a zero checksum, the payload, then the checksum. A cut anywhere
      // leaves a last fragment failing its checksum before zeros, which replay reads as a
      // torn tail; a payload written before its header would read as a zeroed header
      // followed by data, which is corruption. The signal fences keep the compiler from
      // reordering the stores.
      size_t length = bytes - kHeaderBytes;
      char header[kHeaderBytes];
      encode_header_fields(header, RecordType::kFull, length);
      std::memcpy(p, header, kHeaderBytes);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      char* payload = p + kHeaderBytes;
      if (!head.empty()) std::memcpy(payload, head.data(), head.size());
      if (!tail.empty()) std::memcpy(payload + head.size(), tail.data(), tail.size());
      uint32_t checksum =
          wal::fragment_checksum({payload, length}, static_cast<uint8_t>(RecordType::kFull));
      std::atomic_signal_fence(std::memory_order_seq_cst);
      put_fixed32(p, checksum);
      file_->commit_reserved(bytes);
      block_offset_ += bytes;
      return {};
    }
  }
  scratch_.assign(head);
  scratch_.append(tail);
  return add_record(scratch_);
}

Status WalWriter::emit_fragment(RecordType type, std::string_view payload) {
  WEASEL_ASSERT(block_offset_ + kHeaderBytes + payload.size() <= kBlockBytes);
  char header[kHeaderBytes];
  encode_header(header, type, payload);
  Status s = file_->append(std::string_view(header, kHeaderBytes));
  if (s.ok()) s = file_->append(payload);
  block_offset_ += kHeaderBytes + payload.size();
  return s;
}

}  // namespace weaseldb::storage
