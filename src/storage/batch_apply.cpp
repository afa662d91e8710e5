#include "storage/batch_apply.hpp"

#include <algorithm>
#include <string>

#include "storage/coding.hpp"
#include "weaseldb/db.hpp"

namespace weaseldb::storage {

namespace {

// What is wrong with a put (or a delete: empty value) of these sizes, or null.
const char* point_error(std::string_view key, std::string_view value) {
  if (key.size() > kMaxKeyBytes) return "key too long";
  if (value.size() > kMaxValueBytes) return "value too long";
  return nullptr;
}

}  // namespace

Status BatchApplier::collect(const WriteBatch& batch) {
  struct Collector final : WriteBatch::Handler {
    std::vector<Op>* ops;
    void put(std::string_view k, std::string_view v) override {
      ops->push_back({ValueType::kValue, k, v});
    }
    void del(std::string_view k) override { ops->push_back({ValueType::kDeletion, k, {}}); }
    void delete_range(std::string_view b, std::string_view e) override {
      ops->push_back({ValueType::kRangeDeletion, b, e});
    }
  } collector;
  collector.ops = &ops_;
  ops_.clear();
  return batch.iterate(collector);
}

Status BatchApplier::validate(const WriteBatch& batch) {
  if (batch.byte_size() > kMaxBatchBytes) {
    return Status::invalid_argument("write batch of " + std::to_string(batch.byte_size()) +
                                    " bytes is over the limit of " +
                                    std::to_string(kMaxBatchBytes));
  }
  struct Checker final : WriteBatch::Handler {
    size_t index = 0;
    std::string error;
    void fail(const char* what) {
      if (error.empty()) error = "operation " + std::to_string(index) + ": " + what;
    }
    void put(std::string_view k, std::string_view v) override {
      if (const char* what = point_error(k, v)) fail(what);
      ++index;
    }
    void del(std::string_view k) override {
      if (const char* what = point_error(k, {})) fail(what);
      ++index;
    }
    void delete_range(std::string_view b, std::string_view e) override {
      if (b.size() > kMaxKeyBytes || e.size() > kMaxKeyBytes) fail("range bound too long");
      if (b >= e) fail("a range needs begin < end");
      ++index;
    }
  } checker;
  Status s = batch.iterate(checker);
  if (!s.ok()) return s;
  if (!checker.error.empty()) return Status::invalid_argument(checker.error);
  return {};
}

Status BatchApplier::validate_point(std::string_view key, std::string_view value) {
  // A batch of one operation within the key and value limits is within kMaxBatchBytes.
  static_assert(kMaxKeyBytes + kMaxValueBytes + 32 <= kMaxBatchBytes);
  if (const char* what = point_error(key, value)) {
    return Status::invalid_argument(std::string("operation 0: ") + what);
  }
  return {};
}

// A batch of one operation (every put() and del()) has nothing to resolve: its operation is
// read straight from the rep, without collecting it through the Handler's virtual calls.
void BatchApplier::apply_one(const WriteBatch& batch, SequenceNumber sequence, MemTable* mem) {
  std::string_view input = batch.rep().substr(WriteBatch::kHeaderBytes);
  WEASEL_ASSERT(!input.empty() && is_valid_type(static_cast<uint8_t>(input[0])));
  auto type = static_cast<ValueType>(input[0]);
  input.remove_prefix(1);
  std::string_view key;
  std::string_view second;
  bool parsed = get_length_prefixed(&input, &key) &&
                (type == ValueType::kDeletion || get_length_prefixed(&input, &second));
  WEASEL_ASSERT(parsed && input.empty());  // validated before it was logged
  mem->add(sequence, type, key, second);
}

void BatchApplier::apply(const WriteBatch& batch, SequenceNumber sequence, MemTable* mem) {
  if (batch.count() == 1) {
    apply_one(batch, sequence, mem);
    return;
  }
  Status s = collect(batch);
  WEASEL_ASSERT(s.ok());  // validated before it was logged
  // Group operations by (kind, key) in batch order; the last of a group decides.
  order_.resize(ops_.size());
  for (uint32_t i = 0; i < order_.size(); ++i) order_[i] = i;
  auto is_range = [&](uint32_t i) { return ops_[i].type == ValueType::kRangeDeletion; };
  ranges_.clear();
  for (uint32_t i = 0; i < ops_.size(); ++i) {
    if (is_range(i)) ranges_.push_back(i);
  }
  std::stable_sort(order_.begin(), order_.end(), [&](uint32_t a, uint32_t b) {
    if (is_range(a) != is_range(b)) return is_range(a) < is_range(b);
    return ops_[a].key < ops_[b].key;
  });
  for (size_t g = 0; g < order_.size();) {
    size_t end = g + 1;
    while (end < order_.size() && is_range(order_[end]) == is_range(order_[g]) &&
           ops_[order_[end]].key == ops_[order_[g]].key) {
      ++end;
    }
    uint32_t last = order_[end - 1];
    const Op& op = ops_[last];
    if (is_range(last)) {
      std::string_view widest = op.value;
      for (size_t j = g; j < end; ++j) widest = std::max(widest, ops_[order_[j]].value);
      mem->add(sequence, op.type, op.key, widest);
    } else {
      bool covered_later = false;
      auto later = std::upper_bound(ranges_.begin(), ranges_.end(), last);
      for (; later != ranges_.end() && !covered_later; ++later) {
        covered_later = ops_[*later].key <= op.key && op.key < ops_[*later].value;
      }
      if (!covered_later) mem->add(sequence, op.type, op.key, op.value);
    }
    g = end;
  }
}

}  // namespace weaseldb::storage
