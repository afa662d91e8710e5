#include "storage/memtable.hpp"

#include <cstring>

namespace weaseldb::storage {

namespace {

// The length-prefixed internal key at the start of an entry.
inline std::string_view entry_key(const char* entry) {
  // Keys under 128 bytes (nearly all) have a one-byte length: the skiplist decodes one per
  // comparison.
  if (static_cast<uint8_t>(entry[0]) < 0x80) return {entry + 1, static_cast<uint8_t>(entry[0])};
  uint32_t length = 0;
  const char* p = decode_varint32(entry, entry + kMaxVarint32Bytes, &length);
  WEASEL_ASSERT(p != nullptr);
  return {p, length};
}

std::string_view entry_value(std::string_view key) {
  const char* p = key.data() + key.size();
  uint32_t length = 0;
  const char* value = decode_varint32(p, p + kMaxVarint32Bytes, &length);
  WEASEL_ASSERT(value != nullptr);
  return {value, length};
}

}  // namespace

std::string_view MemTable::EntryComparator::decode(const char* entry) const {
  return entry_key(entry);
}

int MemTable::EntryComparator::compare(const char* entry, std::string_view internal_key) const {
  return compare_internal_keys(entry_key(entry), internal_key);
}

MemTable::MemTable()
    : points_(EntryComparator{}, &arena_),
      tombstones_(EntryComparator{}, &arena_) {}

void MemTable::add(SequenceNumber sequence, ValueType type, std::string_view key,
                   std::string_view value) {
  WEASEL_ASSERT(key.size() + kTrailerBytes <= UINT32_MAX && value.size() <= UINT32_MAX);
  size_t ikey_bytes = key.size() + kTrailerBytes;
  size_t bytes = varint_bytes(ikey_bytes) + ikey_bytes + varint_bytes(value.size()) + value.size();
  Table& table = type == ValueType::kRangeDeletion ? tombstones_ : points_;
  char* entry = table.allocate_entry(bytes);
  char* p = put_varint(entry, ikey_bytes);
  if (!key.empty()) std::memcpy(p, key.data(), key.size());  // data() may be null
  p += key.size();
  put_fixed64(p, pack_trailer(sequence, type));
  p += kTrailerBytes;
  p = put_varint(p, value.size());
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
  WEASEL_ASSERT(p + value.size() == entry + bytes);
  table.insert(entry);
  if (type == ValueType::kRangeDeletion) {
    tombstone_count_.fetch_add(1, std::memory_order_relaxed);
  } else {
    entry_count_.fetch_add(1, std::memory_order_relaxed);
  }
  memory_bytes_.store(arena_.bytes_used(), std::memory_order_relaxed);
}

LookupResult MemTable::get(const LookupKey& key, std::string* value) const {
  Table::Iterator it(&points_);
  it.seek(key.memtable_key().data());
  if (!it.valid()) return {};
  std::string_view found = entry_key(it.entry());
  if (extract_user_key(found) != key.user_key()) return {};
  uint64_t trailer = extract_trailer(found);
  LookupResult result{LookupResult::Kind::kDeleted, trailer >> 8};
  if (static_cast<ValueType>(trailer & 0xff) == ValueType::kValue) {
    result.kind = LookupResult::Kind::kValue;
    value->assign(entry_value(found));
  }
  return result;
}

SequenceNumber MemTable::covering_tombstone(std::string_view user_key,
                                            SequenceNumber sequence) const {
  // Tombstones are ordered by begin; every one that starts at or before user_key may cover
  // it. Linear in those: range deletes are rare next to point writes.
  SequenceNumber best = 0;
  Table::Iterator it(&tombstones_);
  for (it.seek_to_first(); it.valid(); it.next()) {
    std::string_view ikey = entry_key(it.entry());
    if (extract_user_key(ikey) > user_key) break;
    SequenceNumber s = extract_trailer(ikey) >> 8;
    if (s <= sequence && s > best && user_key < entry_value(ikey)) best = s;
  }
  return best;
}

class MemTable::Iter final : public InternalIterator {
 public:
  explicit Iter(const Table* table) : it_(table) {}

  bool valid() const override { return it_.valid(); }
  void seek_to_first() override { it_.seek_to_first(); }
  void seek_to_last() override { it_.seek_to_last(); }
  // The skiplist searches with the decoded internal key: no length-prefixed copy of the
  // target (a heap allocation per seek for keys past the string's inline 15 bytes).
  void seek(std::string_view target) override { it_.seek_decoded(target); }
  void next() override { it_.next(); }
  void prev() override { it_.prev(); }
  std::string_view key() const override { return entry_key(it_.entry()); }
  std::string_view value() const override { return entry_value(key()); }
  Status status() const override { return {}; }

 private:
  Table::Iterator it_;
};

std::unique_ptr<InternalIterator> MemTable::new_iterator() const {
  return std::make_unique<Iter>(&points_);
}

std::unique_ptr<InternalIterator> MemTable::new_range_tombstone_iterator() const {
  return std::make_unique<Iter>(&tombstones_);
}

}  // namespace weaseldb::storage
