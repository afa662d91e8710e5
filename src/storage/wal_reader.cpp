#include "storage/wal_reader.hpp"

#include <algorithm>

#include "core/assert.hpp"
#include "storage/coding.hpp"

namespace weaseldb::storage {

using wal::kBlockBytes;
using wal::kHeaderBytes;
using wal::RecordType;

namespace {

bool all_zero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

}  // namespace

WalReader::WalReader(SequentialFile* file, std::string name)
    : file_(file), name_(std::move(name)), block_(kBlockBytes, '\0') {}

bool WalReader::read_record(std::string_view* record) {
  if (ended_) return false;
  bool in_record = false;
  uint64_t record_offset = 0;
  record_.clear();
  while (true) {
    std::string_view payload;
    uint64_t offset = 0;
    Fragment fragment = read_fragment(&payload, &offset);
    switch (fragment) {
      case Fragment::kFull:
        if (in_record) {
          end_corrupt(offset, "a whole record inside a fragmented one");
          return false;
        }
        last_record_offset_ = offset;
        *record = payload;
        return true;
      case Fragment::kFirst:
        if (in_record) {
          end_corrupt(offset, "a first fragment inside a fragmented record");
          return false;
        }
        in_record = true;
        record_offset = offset;
        record_.assign(payload);
        break;
      case Fragment::kMiddle:
      case Fragment::kLast:
        if (!in_record) {
          end_corrupt(offset, "a continuation fragment without a first one");
          return false;
        }
        record_.append(payload);
        if (fragment == Fragment::kLast) {
          last_record_offset_ = record_offset;
          *record = record_;
          return true;
        }
        break;
      case Fragment::kEnd:
        if (in_record && status_.ok() && !torn_tail_) {
          torn_tail_ = TornTail{record_offset, "the file ends inside a fragmented record"};
        } else if (in_record && torn_tail_) {
          torn_tail_->offset = record_offset;  // the partial record is dropped too
        }
        return false;
    }
  }
}

WalReader::Fragment WalReader::read_fragment(std::string_view* payload, uint64_t* offset) {
  while (buffer_.size() < kHeaderBytes) {
    if (eof_) {
      if (buffer_.empty()) {
        ended_ = true;
        return Fragment::kEnd;
      }
      return end_torn(buffer_offset(), "the file ends inside a fragment header");
    }
    // Fewer than a header's bytes left in a whole block: the writer's zero padding.
    if (!all_zero(buffer_)) return end_corrupt(buffer_offset(), "non-zero block padding");
    if (!refill()) return Fragment::kEnd;
  }
  return parse_fragment(payload, offset);
}

WalReader::Fragment WalReader::parse_fragment(std::string_view* payload, uint64_t* offset) {
  *offset = buffer_offset();
  const char* header = buffer_.data();
  if (all_zero(buffer_.substr(0, kHeaderBytes))) {
    if (rest_is_zero(0)) return end_torn(*offset, "zeros up to the end of the file");
    return end_corrupt(*offset, "a zeroed fragment header followed by data");
  }
  uint16_t length = decode_fixed16(header + 4);
  auto type = static_cast<uint8_t>(header[6]);
  if (static_cast<uint8_t>(header[7]) != wal::header_check(length, type)) {
    return end_corrupt(*offset, "fragment header check mismatch");
  }
  if (type == static_cast<uint8_t>(RecordType::kZero) || type > wal::kMaxRecordType) {
    return end_corrupt(*offset, "unknown fragment type " + std::to_string(type));
  }
  size_t block_room = kBlockBytes - static_cast<size_t>(*offset % kBlockBytes) - kHeaderBytes;
  if (length > block_room) return end_corrupt(*offset, "fragment crosses a block boundary");
  if (kHeaderBytes + length > buffer_.size()) {
    WEASEL_ASSERT(eof_);  // a whole block holds every fragment that fits in its room
    return end_torn(*offset, "the file ends inside a fragment payload");
  }
  std::string_view body = buffer_.substr(kHeaderBytes, length);
  if (decode_fixed32(header) != wal::fragment_checksum(body, type)) {
    if (rest_is_zero(kHeaderBytes + length)) {
      return end_torn(*offset, "the last fragment fails its checksum");
    }
    return end_corrupt(*offset, "fragment checksum mismatch");
  }
  buffer_.remove_prefix(kHeaderBytes + length);
  *payload = body;
  switch (static_cast<RecordType>(type)) {
    case RecordType::kFull:
      return Fragment::kFull;
    case RecordType::kFirst:
      return Fragment::kFirst;
    case RecordType::kMiddle:
      return Fragment::kMiddle;
    case RecordType::kLast:
      return Fragment::kLast;
    case RecordType::kZero:
      break;
  }
  WEASEL_ASSERT(false);
  return Fragment::kEnd;
}

bool WalReader::refill() {
  WEASEL_ASSERT(!eof_);
  Result<std::string_view> got = file_->read(kBlockBytes, block_.data());
  if (!got.ok()) {
    status_ = got.status();
    ended_ = true;
    return false;
  }
  buffer_ = got.value();
  buffer_end_offset_ += buffer_.size();
  if (buffer_.size() < kBlockBytes) eof_ = true;
  return true;
}

// Whether everything from buffer_[skip] to the end of the file is zero. Consumes the file:
// only called when the replay ends either way.
bool WalReader::rest_is_zero(size_t skip) {
  if (!all_zero(buffer_.substr(std::min(skip, buffer_.size())))) return false;
  while (!eof_) {
    if (!refill()) return false;
    if (!all_zero(buffer_)) return false;
  }
  return true;
}

WalReader::Fragment WalReader::end_torn(uint64_t offset, std::string reason) {
  if (status_.ok()) torn_tail_ = TornTail{offset, std::move(reason)};
  ended_ = true;
  return Fragment::kEnd;
}

WalReader::Fragment WalReader::end_corrupt(uint64_t offset, const std::string& reason) {
  if (status_.ok()) {
    status_ = Status::corruption(name_ + ": WAL offset " + std::to_string(offset) + ": " + reason);
  }
  ended_ = true;
  return Fragment::kEnd;
}

}  // namespace weaseldb::storage
