#include "storage/batch_apply.hpp"

#include <algorithm>

#include "weaseldb/db.hpp"

namespace weaseldb::storage {

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
      if (k.size() > kMaxKeyBytes) fail("key too long");
      if (v.size() > kMaxValueBytes) fail("value too long");
      ++index;
    }
    void del(std::string_view k) override {
      if (k.size() > kMaxKeyBytes) fail("key too long");
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

void BatchApplier::apply(const WriteBatch& batch, SequenceNumber sequence, MemTable* mem) {
  Status s = collect(batch);
  WEASEL_ASSERT(s.ok());  // validated before it was logged
  if (ops_.size() == 1) {
    mem->add(sequence, ops_[0].type, ops_[0].key, ops_[0].value);
    return;
  }
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
