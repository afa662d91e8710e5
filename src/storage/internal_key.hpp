#pragma once
// Internal keys: how the engine tells versions of a user key apart. An internal key is the
// user key followed by an 8-byte trailer, fixed64(sequence << 8 | type).
//
// Contract
// - Order (compare_internal_keys): user key ascending (memcmp, shorter prefix first), then
//   sequence descending, then type descending; so the newest version of a key comes first and
//   a seek to (key, s, kTypeForSeek) lands on the newest version at or below s.
// - Types: kDeletion (a tombstone), kValue, kRangeDeletion (the user key is the range's
//   begin, the value its end; range tombstones are kept apart from point entries).
//   A range tombstone at sequence t hides the point entries of its range at sequences < t.
// - parse_internal_key() rejects keys shorter than the trailer and unknown types, so bytes
//   read from disk are checked before use.
//
// Ownership: views point into the bytes they were parsed from.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/assert.hpp"
#include "storage/coding.hpp"
#include "weaseldb/options.hpp"

namespace weaseldb::storage {

enum class ValueType : uint8_t {
  kDeletion = 0,
  kValue = 1,
  kRangeDeletion = 2,
};
// The largest type: sorts first among entries of equal user key and sequence.
inline constexpr ValueType kTypeForSeek = ValueType::kRangeDeletion;
inline constexpr size_t kTrailerBytes = 8;

inline bool is_valid_type(uint8_t type) {
  return type <= static_cast<uint8_t>(ValueType::kRangeDeletion);
}

inline uint64_t pack_trailer(SequenceNumber sequence, ValueType type) {
  WEASEL_ASSERT(sequence <= kMaxSequenceNumber);
  return (sequence << 8) | static_cast<uint8_t>(type);
}

struct ParsedInternalKey {
  std::string_view user_key;
  SequenceNumber sequence = 0;
  ValueType type = ValueType::kValue;
};

inline void append_internal_key(std::string* out, std::string_view user_key,
                                SequenceNumber sequence, ValueType type) {
  out->append(user_key);
  append_fixed64(out, pack_trailer(sequence, type));
}

inline bool parse_internal_key(std::string_view ikey, ParsedInternalKey* parsed) {
  if (ikey.size() < kTrailerBytes) return false;
  uint64_t trailer = decode_fixed64(ikey.data() + ikey.size() - kTrailerBytes);
  uint8_t type = static_cast<uint8_t>(trailer & 0xff);
  if (!is_valid_type(type)) return false;
  parsed->user_key = ikey.substr(0, ikey.size() - kTrailerBytes);
  parsed->sequence = trailer >> 8;
  parsed->type = static_cast<ValueType>(type);
  return true;
}

// The caller knows ikey is a well-formed internal key (asserted on length).
inline std::string_view extract_user_key(std::string_view ikey) {
  WEASEL_ASSERT(ikey.size() >= kTrailerBytes);
  return ikey.substr(0, ikey.size() - kTrailerBytes);
}
inline uint64_t extract_trailer(std::string_view ikey) {
  WEASEL_ASSERT(ikey.size() >= kTrailerBytes);
  return decode_fixed64(ikey.data() + ikey.size() - kTrailerBytes);
}

// memcmp order, shorter prefix first; the same result as std::string_view::compare, but
// eight bytes at a time inline: keys are short, and the memtable, blocks and merges compare
// on every step.
inline int compare_user_keys(std::string_view a, std::string_view b) {
  const char* p = a.data();
  const char* q = b.data();
  size_t n = a.size() < b.size() ? a.size() : b.size();
  for (; n >= 8; n -= 8, p += 8, q += 8) {
    uint64_t x, y;
    std::memcpy(&x, p, 8);
    std::memcpy(&y, q, 8);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
  }
  for (; n > 0; --n, ++p, ++q) {
    if (*p != *q) return static_cast<uint8_t>(*p) < static_cast<uint8_t>(*q) ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

inline int compare_internal_keys(std::string_view a, std::string_view b) {
  int r = compare_user_keys(extract_user_key(a), extract_user_key(b));
  if (r != 0) return r;
  uint64_t ta = extract_trailer(a);
  uint64_t tb = extract_trailer(b);
  if (ta > tb) return -1;
  if (ta < tb) return 1;
  return 0;
}

// What a point lookup in a memtable or table found: the newest entry of a user key at or
// below the read sequence (range tombstones are looked up separately).
struct LookupResult {
  enum class Kind { kNotFound, kValue, kDeleted };
  Kind kind = Kind::kNotFound;
  SequenceNumber sequence = 0;  // of the entry found
};

// Shortens *start to a key k with start <= k < limit (internal keys, start < limit), so
// index blocks hold short separators instead of whole keys.
void shorten_separator(std::string* start, std::string_view limit);
// Shortens *key to a key k >= key.
void shorten_successor(std::string* key);

// The key a memtable or table is searched with: (user_key, sequence, kTypeForSeek), also
// available with a varint32 length prefix (the memtable's entry format).
class LookupKey {
 public:
  LookupKey(std::string_view user_key, SequenceNumber sequence);
  LookupKey(const LookupKey&) = delete;
  LookupKey& operator=(const LookupKey&) = delete;
  ~LookupKey();

  std::string_view memtable_key() const { return {start_, static_cast<size_t>(end_ - start_)}; }
  std::string_view internal_key() const { return {key_, static_cast<size_t>(end_ - key_)}; }
  std::string_view user_key() const {
    return {key_, static_cast<size_t>(end_ - key_) - kTrailerBytes};
  }

 private:
  const char* start_;
  const char* key_;
  const char* end_;
  char inline_[128];  // avoids an allocation for short keys
};

}  // namespace weaseldb::storage
