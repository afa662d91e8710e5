#include "storage/db_iterator.hpp"

#include <cstring>

#include "core/assert.hpp"
#include "storage/coding.hpp"
#include "storage/internal_key.hpp"

namespace weaseldb::storage {

namespace {

// A user key kept across steps (the key to skip, or the current key walking backwards): in
// place up to 48 bytes, so that the first next() of a fresh iterator does not allocate (a
// std::string's inline buffer holds 15). Not copyable: it may point into itself.
class KeyBuffer {
 public:
  KeyBuffer() = default;
  KeyBuffer(const KeyBuffer&) = delete;
  KeyBuffer& operator=(const KeyBuffer&) = delete;

  // `key` must not point into this buffer.
  void assign(std::string_view key) {
    if (key.size() <= sizeof(inline_)) {
      std::memcpy(inline_, key.data(), key.size());
      data_ = inline_;
    } else {
      heap_.assign(key);
      data_ = heap_.data();
    }
    size_ = key.size();
  }
  void clear() { size_ = 0; }
  std::string_view view() const { return {data_, size_}; }

 private:
  char inline_[48];
  std::string heap_;
  const char* data_ = inline_;
  size_t size_ = 0;
};

class DBIterator final : public Iterator {
 public:
  DBIterator(std::unique_ptr<InternalIterator> internal, RangeTombstoneSet tombstones,
             SequenceNumber sequence, std::optional<std::string> lower,
             std::optional<std::string> upper, std::shared_ptr<void> pin)
      : iter_(std::move(internal)),
        tombstones_(std::move(tombstones)),
        sequence_(sequence),
        lower_(std::move(lower)),
        upper_(std::move(upper)),
        pin_(std::move(pin)) {}

  bool valid() const override { return valid_; }
  std::string_view key() const override {
    WEASEL_ASSERT(valid_);
    return forward_ ? extract_user_key(iter_->key()) : saved_key_.view();
  }
  std::string_view value() const override {
    WEASEL_ASSERT(valid_);
    return forward_ ? iter_->value() : std::string_view(saved_value_);
  }
  Status status() const override { return status_.ok() ? iter_->status() : status_; }

  void seek_to_first() override {
    if (lower_) return seek(*lower_);
    forward_ = true;
    iter_->seek_to_first();
    find_next_user_entry(false);
  }

  void seek_to_last() override {
    if (upper_) return seek_before(*upper_);
    forward_ = false;
    iter_->seek_to_last();
    find_prev_user_entry();
  }

  void seek(std::string_view target) override {
    if (lower_ && target < *lower_) target = *lower_;
    forward_ = true;
    iter_->seek(internal_key_for_seek(target, sequence_, kTypeForSeek));
    find_next_user_entry(false);
  }

  void seek_for_prev(std::string_view target) override {
    if (upper_ && target >= *upper_) return seek_before(*upper_);
    // Past every entry of target: its smallest internal key, then whatever equals it.
    iter_->seek(internal_key_for_seek(target, 0, ValueType::kDeletion));
    while (iter_->valid() && extract_user_key(iter_->key()) == target) iter_->next();
    step_back_into_range();
  }

  void next() override {
    WEASEL_ASSERT(valid_);
    if (!forward_) {
      // iter_ is just before the entries of key(): step into them and skip them.
      forward_ = true;
      if (!iter_->valid()) {
        iter_->seek_to_first();
      } else {
        iter_->next();
      }
    } else {
      saved_key_.assign(extract_user_key(iter_->key()));
      iter_->next();
    }
    find_next_user_entry(true);
  }

  void prev() override {
    WEASEL_ASSERT(valid_);
    if (forward_) {
      // Back up past every entry of key(), then walk backwards as usual.
      saved_key_.assign(extract_user_key(iter_->key()));
      while (true) {
        iter_->prev();
        if (!iter_->valid()) {
          valid_ = false;
          saved_key_.clear();
          return;
        }
        if (extract_user_key(iter_->key()) < saved_key_.view()) break;
      }
      forward_ = false;
    }
    find_prev_user_entry();
  }

 private:
  // The last entries before user key `limit` (exclusive), walked backwards.
  void seek_before(std::string_view limit) {
    iter_->seek(internal_key_for_seek(limit, kMaxSequenceNumber, kTypeForSeek));
    step_back_into_range();
  }

  void step_back_into_range() {
    if (iter_->valid()) {
      iter_->prev();
    } else if (iter_->status().ok()) {
      iter_->seek_to_last();
    }
    forward_ = false;
    find_prev_user_entry();
  }

  // The effective type of an entry the read can see: values covered by a newer range
  // tombstone count as deletions.
  ValueType visible_type(const ParsedInternalKey& k) const {
    if (k.type == ValueType::kValue && !tombstones_.empty() &&
        tombstones_.covering(k.user_key) > k.sequence) {
      return ValueType::kDeletion;
    }
    return k.type;
  }

  // The internal key a seek looks for, in place when it fits: an iterator is often made for
  // one seek, and a std::string holds at most 15 bytes without a heap allocation.
  std::string_view internal_key_for_seek(std::string_view user_key, SequenceNumber sequence,
                                         ValueType type) {
    if (user_key.size() + kTrailerBytes > sizeof(seek_key_)) {
      long_seek_key_.clear();
      append_internal_key(&long_seek_key_, user_key, sequence, type);
      return long_seek_key_;
    }
    std::memcpy(seek_key_, user_key.data(), user_key.size());
    put_fixed64(seek_key_ + user_key.size(), pack_trailer(sequence, type));
    return {seek_key_, user_key.size() + kTrailerBytes};
  }

  bool parse(ParsedInternalKey* k) {
    if (parse_internal_key(iter_->key(), k) && k->type != ValueType::kRangeDeletion) return true;
    status_ = Status::corruption("bad internal key in a read");
    return false;
  }

  // From iter_ forward: the first entry that is the newest visible version of a key and a
  // value. With `skipping`, versions of keys <= saved_key_ are hidden.
  void find_next_user_entry(bool skipping) {
    valid_ = false;
    for (; iter_->valid(); iter_->next()) {
      ParsedInternalKey k;
      if (!parse(&k)) return;
      if (upper_ && compare_user_keys(k.user_key, *upper_) >= 0) return;
      if (k.sequence > sequence_) continue;
      if (skipping && compare_user_keys(k.user_key, saved_key_.view()) <= 0) continue;
      if (visible_type(k) == ValueType::kDeletion) {
        saved_key_.assign(k.user_key);
        skipping = true;
        continue;
      }
      valid_ = true;
      return;
    }
  }

  // From iter_ backward: collects the newest visible version of the key before; leaves iter_
  // just before that key's entries.
  void find_prev_user_entry() {
    ValueType type = ValueType::kDeletion;
    valid_ = false;
    for (; iter_->valid(); iter_->prev()) {
      ParsedInternalKey k;
      if (!parse(&k)) return;
      if (lower_ && compare_user_keys(k.user_key, *lower_) < 0) break;
      if (k.sequence > sequence_) continue;
      if (type != ValueType::kDeletion && compare_user_keys(k.user_key, saved_key_.view()) < 0) {
        break;  // found one
      }
      type = visible_type(k);
      if (type == ValueType::kDeletion) {
        saved_key_.clear();
        saved_value_.clear();
      } else {
        saved_key_.assign(k.user_key);
        saved_value_.assign(iter_->value());
      }
    }
    if (type == ValueType::kDeletion) {
      saved_key_.clear();
      forward_ = true;
      return;
    }
    valid_ = true;
  }

  std::unique_ptr<InternalIterator> iter_;
  RangeTombstoneSet tombstones_;
  SequenceNumber sequence_;
  std::optional<std::string> lower_;
  std::optional<std::string> upper_;
  std::shared_ptr<void> pin_;
  bool valid_ = false;
  bool forward_ = true;
  KeyBuffer saved_key_;      // forward: a key to skip; backward: the current key
  std::string saved_value_;  // backward: the current value
  char seek_key_[64];        // a seek's internal key, when it fits
  std::string long_seek_key_;  // when it does not
  Status status_;
};

class ErrorIterator final : public Iterator {
 public:
  explicit ErrorIterator(Status status) : status_(std::move(status)) {}
  bool valid() const override { return false; }
  void seek_to_first() override {}
  void seek_to_last() override {}
  void seek(std::string_view) override {}
  void seek_for_prev(std::string_view) override {}
  void next() override { WEASEL_ASSERT(false); }
  void prev() override { WEASEL_ASSERT(false); }
  std::string_view key() const override {
    WEASEL_ASSERT(false);
    return {};
  }
  std::string_view value() const override {
    WEASEL_ASSERT(false);
    return {};
  }
  Status status() const override { return status_; }

 private:
  Status status_;
};

}  // namespace

std::unique_ptr<Iterator> new_db_iterator(std::unique_ptr<InternalIterator> internal,
                                          RangeTombstoneSet tombstones, SequenceNumber sequence,
                                          std::optional<std::string> lower_bound,
                                          std::optional<std::string> upper_bound,
                                          std::shared_ptr<void> pin) {
  return std::make_unique<DBIterator>(std::move(internal), std::move(tombstones), sequence,
                                      std::move(lower_bound), std::move(upper_bound),
                                      std::move(pin));
}

std::unique_ptr<Iterator> new_error_iterator(Status status) {
  return std::make_unique<ErrorIterator>(std::move(status));
}

}  // namespace weaseldb::storage
