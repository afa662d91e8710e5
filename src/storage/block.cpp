#include "storage/block.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/assert.hpp"
#include "storage/coding.hpp"
#include "storage/internal_key.hpp"

namespace weaseldb::storage {

namespace {

// The (up to) 8 bytes of user_key after its first `skip`, big-endian, zero-padded: integers
// that order like the keys.
uint64_t rank_after(std::string_view user_key, size_t skip) {
  size_t available = user_key.size() - skip;
  uint64_t raw = 0;
  if (available >= sizeof(raw)) {
    std::memcpy(&raw, user_key.data() + skip, sizeof(raw));  // one load
  } else {
    std::memcpy(&raw, user_key.data() + skip, available);
  }
  if constexpr (std::endian::native == std::endian::little) raw = __builtin_bswap64(raw);
  return raw;
}

}  // namespace

Result<std::shared_ptr<const Block>> Block::parse(std::string_view contents) {
  BlockBytes bytes = BlockBytes::allocate(contents.size());
  if (!contents.empty()) std::memcpy(bytes.data(), contents.data(), contents.size());
  return parse(std::move(bytes));
}

Result<std::shared_ptr<const Block>> Block::parse(BlockBytes bytes) {
  std::string_view contents = bytes.view();
  if (contents.size() < sizeof(uint32_t) || contents.size() > UINT32_MAX) {
    return Status::corruption("block: bad size " + std::to_string(contents.size()));
  }
  uint32_t count = decode_fixed32(contents.data() + contents.size() - sizeof(uint32_t));
  size_t max_count = (contents.size() - sizeof(uint32_t)) / sizeof(uint32_t);
  if (count == 0 || count > max_count) {
    return Status::corruption("block: bad restart count " + std::to_string(count));
  }
  auto restarts_offset =
      static_cast<uint32_t>(contents.size() - sizeof(uint32_t) * (size_t{count} + 1));
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t restart = decode_fixed32(contents.data() + restarts_offset + 4 * size_t{i});
    uint32_t previous =
        i == 0 ? 0 : decode_fixed32(contents.data() + restarts_offset + 4 * size_t{i - 1});
    bool in_order = i == 0 ? restart == 0 : restart > previous;
    if (!in_order || (restart >= restarts_offset && restarts_offset > 0)) {
      return Status::corruption("block: bad restart point " + std::to_string(i));
    }
  }
  if (restarts_offset == 0 && count != 1) return Status::corruption("block: bad empty block");
  // One allocation for the block and its shared count (a cache miss allocates per block).
  auto block = std::make_shared<Block>(Private{}, std::move(bytes), restarts_offset, count);
  block->rank_restarts();
  return std::shared_ptr<const Block>(std::move(block));
}

void Block::rank_restarts() {
  if (restart_count_ > kMaxRanked || restarts_offset_ == 0) return;
  const char* data = contents_.data();
  const char* end = data + restarts_offset_;
  std::string_view keys[kMaxRanked];
  for (uint32_t i = 0; i < restart_count_; ++i) {
    uint32_t shared = 0, non_shared = 0, value_bytes = 0;
    const char* p = decode_varint32(data + decode_fixed32(end + 4 * size_t{i}), end, &shared);
    if (p != nullptr) p = decode_varint32(p, end, &non_shared);
    if (p != nullptr) p = decode_varint32(p, end, &value_bytes);
    if (p == nullptr || shared != 0 || non_shared < kTrailerBytes ||
        non_shared > static_cast<size_t>(end - p)) {
      return;
    }
    keys[i] = std::string_view(p, non_shared - kTrailerBytes);
  }
  std::string_view first = keys[0];
  std::string_view last = keys[restart_count_ - 1];
  size_t common = 0;
  size_t limit = std::min({first.size(), last.size(), kMaxCommonBytes});
  while (common < limit && first[common] == last[common]) ++common;
  common_size_ = static_cast<uint8_t>(common);
  if (common > 0) std::memcpy(common_, first.data(), common);
  // Sorted between first and last, every restart key starts with the prefix they share, so
  // its rank is just its next 8 bytes (rank() without the prefix test: a miss ranks every
  // restart key of the block it reads).
  for (uint32_t i = 0; i < restart_count_; ++i) ranks_[i] = rank_after(keys[i], common);
  ranked_ = true;
}

void Block::prefetch_for_seek(const char* restarts) const {
  // The shared count sits just before the block (make_shared in parse()). An address, never
  // dereferenced: integer arithmetic, so that it may point before the block.
  __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(this) - 16));
  __builtin_prefetch(reinterpret_cast<const char*>(this) + 48);
  __builtin_prefetch(&ranks_[4]);
  __builtin_prefetch(restarts);
}

uint64_t Block::rank(std::string_view user_key) const {
  size_t skip = common_size_;
  if (skip > 0) {
    int c = std::memcmp(user_key.data(), common_, std::min(skip, user_key.size()));
    if (c < 0 || (c == 0 && user_key.size() < skip)) return 0;
    if (c > 0) return UINT64_MAX;
  }
  return rank_after(user_key, skip);
}

BlockIter::BlockIter(const Block& block)
    : block_(&block),
      data_(block.contents_.data()),
      limit_(block.restarts_offset_),
      restart_count_(block.restart_count_),
      current_(limit_),
      next_(limit_) {}

BlockIter::BlockIter(std::shared_ptr<const Block> block) : BlockIter(*block) {
  owner_ = std::move(block);
}

std::string_view BlockIter::key() const {
  WEASEL_ASSERT(valid());
  return {key_, key_size_};
}

std::string_view BlockIter::value() const {
  WEASEL_ASSERT(valid());
  return value_;
}

void BlockIter::seek_to_first() {
  status_ = {};
  seek_to_restart(0);
  parse_next();
}

void BlockIter::seek_to_last() {
  status_ = {};
  seek_to_restart(restart_count_ - 1);
  while (parse_next() && next_ < limit_) {
  }
}

void BlockIter::next() {
  WEASEL_ASSERT(valid());
  parse_next();
}

void BlockIter::prev() {
  WEASEL_ASSERT(valid());
  uint32_t original = current_;
  while (restart_point(restart_index_) >= original) {
    if (restart_index_ == 0) {  // already at the first entry
      current_ = limit_;
      return;
    }
    --restart_index_;
  }
  seek_to_restart(restart_index_);
  while (parse_next() && next_ < original) {
  }
}

bool BlockIter::count_restarts_before(std::string_view target, uint32_t* count) {
  uint64_t r = block_->rank(extract_user_key(target));
  const uint64_t* ranks = block_->ranks_;
  uint32_t lo = 0;
  while (lo < restart_count_ && ranks[lo] < r) ++lo;  // a handful of integers in one line
  uint32_t hi = lo;
  while (hi < restart_count_ && ranks[hi] == r) ++hi;
  while (lo < hi) {  // ties: whole keys
    uint32_t mid = lo + (hi - lo) / 2;
    std::string_view mid_key;
    if (!restart_key(mid, &mid_key)) return false;
    if (compare_internal_keys(mid_key, target) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  *count = lo;
  return true;
}

void BlockIter::seek(std::string_view target) {
  status_ = {};
  if (block_->ranked_ && target.size() >= kTrailerBytes) {
    uint32_t before = 0;
    if (!count_restarts_before(target, &before)) return;
    seek_to_restart(before == 0 ? 0 : before - 1);
    prefetch_interval();
    while (parse_next() && compare_internal_keys({key_, key_size_}, target) < 0) {
    }
    return;
  }
  // The last restart point whose key is < target; entries before it are all smaller.
  uint32_t left = 0;
  uint32_t right = restart_count_ - 1;
  while (left < right) {
    uint32_t mid = left + (right - left + 1) / 2;
    std::string_view mid_key;
    if (!restart_key(mid, &mid_key)) return;
    if (compare_internal_keys(mid_key, target) < 0) {
      left = mid;
    } else {
      right = mid - 1;
    }
  }
  seek_to_restart(left);
  while (parse_next() && compare_internal_keys({key_, key_size_}, target) < 0) {
  }
}

uint32_t BlockIter::restart_point(uint32_t index) const {
  return decode_fixed32(data_ + limit_ + 4 * size_t{index});
}

uint32_t BlockIter::restart_after(uint32_t index) const {
  return index + 1 < restart_count_ ? restart_point(index + 1) : limit_;
}

void BlockIter::seek_to_restart(uint32_t index) {
  restart_index_ = index;
  next_restart_ = restart_after(index);
  key_size_ = 0;
  current_ = limit_;
  next_ = restart_point(index);
}

void BlockIter::prefetch_interval() const {
  for (uint32_t p = next_; p < next_restart_; p += 64) __builtin_prefetch(data_ + p);
}

void BlockIter::corrupt(const char* what) {
  status_ = Status::corruption(std::string("block: ") + what);
  current_ = next_ = limit_;
}

// Decodes the entry header at p; key_at is 0 (and the iterator corrupt) when it runs past the
// entries. Inlined into the search loops (a point read decodes ~25 headers), with the common
// case of three one-byte varints (short keys and values) first and the general decoding out
// of line. Returned by value, 16 bytes, in registers: out-parameters made the compiler keep
// the fields on the stack in every caller.
[[gnu::always_inline]] inline BlockIter::EntryHeader BlockIter::decode_header(uint32_t p) {
  const char* q = data_ + p;
  if (limit_ - p < 3 || ((static_cast<uint8_t>(q[0]) | static_cast<uint8_t>(q[1]) |
                          static_cast<uint8_t>(q[2])) & 0x80) != 0) {
    return decode_long_header(p);
  }
  EntryHeader h{static_cast<uint8_t>(q[0]), static_cast<uint8_t>(q[1]),
                static_cast<uint8_t>(q[2]), p + 3};
  if (uint64_t{h.non_shared} + h.value_bytes > limit_ - h.key_at) {
    corrupt("entry runs past the end of the block");
    h.key_at = 0;
  }
  return h;
}

BlockIter::EntryHeader BlockIter::decode_long_header(uint32_t p) {
  const char* end = data_ + limit_;
  EntryHeader h{0, 0, 0, 0};
  const char* q = decode_varint32(data_ + p, end, &h.shared);
  if (q != nullptr) q = decode_varint32(q, end, &h.non_shared);
  if (q != nullptr) q = decode_varint32(q, end, &h.value_bytes);
  if (q == nullptr || uint64_t{h.non_shared} + h.value_bytes > static_cast<uint64_t>(end - q)) {
    corrupt("entry runs past the end of the block");
    return {0, 0, 0, 0};
  }
  h.key_at = static_cast<uint32_t>(q - data_);
  return h;
}

void BlockIter::grow_key(size_t size) {
  size_t capacity = std::max<size_t>(size, size_t{key_capacity_} * 2);
  auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
  if (key_size_ > 0) std::memcpy(bigger.get(), key_, key_size_);
  heap_key_ = std::move(bigger);
  key_ = heap_key_.get();
  key_capacity_ = static_cast<uint32_t>(capacity);
}

bool BlockIter::parse_next() {
  current_ = next_;
  if (current_ >= limit_) {
    current_ = next_ = limit_;
    return false;
  }
  EntryHeader h = decode_header(current_);
  if (h.key_at == 0) return false;
  uint32_t shared = h.shared;
  uint32_t non_shared = h.non_shared;
  const char* delta = data_ + h.key_at;
  if (shared > key_size_) {
    corrupt("entry shares more than the previous key");
    return false;
  }
  size_t size = size_t{shared} + non_shared;
  if (size < kTrailerBytes) {
    corrupt("key shorter than an internal key");
    return false;
  }
  key_size_ = shared;
  if (size > key_capacity_) grow_key(size);
  if (non_shared <= 16 && shared + 16 <= key_capacity_ && delta + 16 <= data_ + limit_) {
    // A fixed-size copy is two moves instead of a call; the bytes past the key are scratch.
    std::memcpy(key_ + shared, delta, 16);
  } else {
    std::memcpy(key_ + shared, delta, non_shared);
  }
  key_size_ = static_cast<uint32_t>(size);
  value_ = std::string_view(delta + non_shared, h.value_bytes);
  next_ = h.key_at + non_shared + h.value_bytes;
  while (current_ >= next_restart_) {  // never past the last restart: current_ < limit_
    ++restart_index_;
    next_restart_ = restart_after(restart_index_);
  }
  return true;
}

// The whole key stored at restart point `index`.
bool BlockIter::restart_key(uint32_t index, std::string_view* key) {
  EntryHeader h = decode_header(restart_point(index));
  if (h.key_at == 0) return false;
  if (h.shared != 0 || h.non_shared < kTrailerBytes) {
    corrupt("bad key at a restart point");
    return false;
  }
  *key = std::string_view(data_ + h.key_at, h.non_shared);
  return true;
}

std::unique_ptr<InternalIterator> Block::new_iterator() const {
  // Blocks are only made by parse(), so a shared_ptr owns every one.
  return std::make_unique<BlockIter>(shared_from_this());
}

}  // namespace weaseldb::storage
