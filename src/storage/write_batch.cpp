#include "weaseldb/write_batch.hpp"

#include "core/assert.hpp"
#include "storage/coding.hpp"
#include "storage/internal_key.hpp"

namespace weaseldb::storage {

namespace {

constexpr size_t kCountOffset = 8;

void append_record(std::string* rep, ValueType type, std::string_view key,
                   std::string_view second) {
  rep->push_back(static_cast<char>(type));
  append_length_prefixed(rep, key);
  if (type != ValueType::kDeletion) append_length_prefixed(rep, second);
  put_fixed32(rep->data() + kCountOffset, decode_fixed32(rep->data() + kCountOffset) + 1);
}

}  // namespace

WriteBatch::WriteBatch() { clear(); }

void WriteBatch::clear() { rep_.assign(kHeaderBytes, '\0'); }

uint32_t WriteBatch::count() const { return decode_fixed32(rep_.data() + kCountOffset); }

SequenceNumber WriteBatch::sequence() const { return decode_fixed64(rep_.data()); }

void WriteBatch::set_sequence(SequenceNumber sequence) { put_fixed64(rep_.data(), sequence); }

void WriteBatch::put(std::string_view key, std::string_view value) {
  append_record(&rep_, ValueType::kValue, key, value);
}

void WriteBatch::del(std::string_view key) { append_record(&rep_, ValueType::kDeletion, key, {}); }

void WriteBatch::delete_range(std::string_view begin, std::string_view end) {
  append_record(&rep_, ValueType::kRangeDeletion, begin, end);
}

Status WriteBatch::iterate(Handler& handler) const {
  std::string_view input(rep_);
  input.remove_prefix(kHeaderBytes);
  uint32_t found = 0;
  while (!input.empty()) {
    uint8_t type = static_cast<uint8_t>(input[0]);
    input.remove_prefix(1);
    std::string_view key;
    std::string_view second;
    if (!is_valid_type(type)) return Status::corruption("write batch: unknown operation type");
    if (!get_length_prefixed(&input, &key) ||
        (type != static_cast<uint8_t>(ValueType::kDeletion) &&
         !get_length_prefixed(&input, &second))) {
      return Status::corruption("write batch: truncated operation");
    }
    switch (static_cast<ValueType>(type)) {
      case ValueType::kValue:
        handler.put(key, second);
        break;
      case ValueType::kDeletion:
        handler.del(key);
        break;
      case ValueType::kRangeDeletion:
        handler.delete_range(key, second);
        break;
    }
    ++found;
  }
  if (found != count()) return Status::corruption("write batch: count does not match");
  return {};
}

Status WriteBatch::set_rep(std::string_view rep) {
  if (rep.size() < kHeaderBytes) {
    clear();
    return Status::corruption("write batch: shorter than its header");
  }
  rep_.assign(rep);
  // A parse with a handler that ignores everything: what iterate() would report later.
  struct Ignore final : Handler {
    void put(std::string_view, std::string_view) override {}
    void del(std::string_view) override {}
    void delete_range(std::string_view, std::string_view) override {}
  } ignore;
  Status s = iterate(ignore);
  if (!s.ok()) clear();
  return s;
}

}  // namespace weaseldb::storage
