#include "storage/wal_writer.hpp"

#include <algorithm>

#include "core/assert.hpp"
#include "storage/coding.hpp"

namespace weaseldb::storage {

using wal::kBlockBytes;
using wal::kHeaderBytes;
using wal::RecordType;

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

Status WalWriter::emit_fragment(RecordType type, std::string_view payload) {
  WEASEL_ASSERT(payload.size() <= wal::kMaxFragmentBytes);
  WEASEL_ASSERT(block_offset_ + kHeaderBytes + payload.size() <= kBlockBytes);
  auto length = static_cast<uint16_t>(payload.size());
  auto type_byte = static_cast<uint8_t>(type);
  char header[kHeaderBytes];
  put_fixed32(header, wal::fragment_checksum(payload, type_byte));
  header[4] = static_cast<char>(length & 0xff);
  header[5] = static_cast<char>(length >> 8);
  header[6] = static_cast<char>(type_byte);
  header[7] = static_cast<char>(wal::header_check(length, type_byte));
  Status s = file_->append(std::string_view(header, kHeaderBytes));
  if (s.ok()) s = file_->append(payload);
  block_offset_ += kHeaderBytes + payload.size();
  return s;
}

}  // namespace weaseldb::storage
