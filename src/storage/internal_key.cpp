#include "storage/internal_key.hpp"

#include <algorithm>
#include <cstring>

namespace weaseldb::storage {

namespace {

// Bytewise-comparator shortening on user keys (LevelDB's FindShortestSeparator).
void shorten_user_separator(std::string* start, std::string_view limit) {
  size_t min_length = std::min(start->size(), limit.size());
  size_t diff = 0;
  while (diff < min_length && (*start)[diff] == limit[diff]) ++diff;
  if (diff >= min_length) return;  // one is a prefix of the other
  uint8_t byte = static_cast<uint8_t>((*start)[diff]);
  if (byte < 0xff && byte + 1 < static_cast<uint8_t>(limit[diff])) {
    (*start)[diff] = static_cast<char>(byte + 1);
    start->resize(diff + 1);
  }
}

void shorten_user_successor(std::string* key) {
  for (size_t i = 0; i < key->size(); ++i) {
    uint8_t byte = static_cast<uint8_t>((*key)[i]);
    if (byte != 0xff) {
      (*key)[i] = static_cast<char>(byte + 1);
      key->resize(i + 1);
      return;
    }
  }
}

// Replaces the user key of *ikey with `shorter` when it is strictly shorter and greater,
// stamped so that it sorts before every real entry of that user key.
void adopt_shorter(std::string* ikey, const std::string& shorter) {
  std::string_view user = extract_user_key(*ikey);
  if (shorter.size() < user.size() && compare_user_keys(user, shorter) < 0) {
    std::string replaced = shorter;
    append_fixed64(&replaced, pack_trailer(kMaxSequenceNumber, kTypeForSeek));
    ikey->swap(replaced);
  }
}

}  // namespace

void shorten_separator(std::string* start, std::string_view limit) {
  std::string user(extract_user_key(*start));
  shorten_user_separator(&user, extract_user_key(limit));
  adopt_shorter(start, user);
  WEASEL_ASSERT(compare_internal_keys(*start, limit) < 0);
}

void shorten_successor(std::string* key) {
  std::string user(extract_user_key(*key));
  shorten_user_successor(&user);
  adopt_shorter(key, user);
}

LookupKey::LookupKey(std::string_view user_key, SequenceNumber sequence) {
  size_t ikey_bytes = user_key.size() + kTrailerBytes;
  size_t needed = ikey_bytes + kMaxVarint32Bytes;
  char* dst = needed <= sizeof(inline_) ? inline_ : new char[needed];
  start_ = dst;
  dst = put_varint(dst, ikey_bytes);
  key_ = dst;
  if (!user_key.empty()) std::memcpy(dst, user_key.data(), user_key.size());  // may be null
  dst += user_key.size();
  put_fixed64(dst, pack_trailer(sequence, kTypeForSeek));
  end_ = dst + kTrailerBytes;
}

LookupKey::~LookupKey() {
  if (start_ != inline_) delete[] start_;
}

}  // namespace weaseldb::storage
