#include "storage/table_index.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/assert.hpp"
#include "storage/internal_key.hpp"

namespace weaseldb::storage {

Result<TableIndex> TableIndex::build(const Block& index_block) {
  TableIndex index;
  index.key_offsets_.push_back(0);
  BlockIter it(index_block);
  for (it.seek_to_first(); it.valid(); it.next()) {
    std::string_view handle_bytes = it.value();
    BlockHandle handle;
    if (!handle.decode_from(&handle_bytes) || !handle_bytes.empty()) {
      return Status::corruption("bad block handle");
    }
    index.handles_.push_back(handle);
    index.keys_.append(it.key());
    if (index.keys_.size() > UINT32_MAX) return Status::corruption("index too large");
    index.key_offsets_.push_back(static_cast<uint32_t>(index.keys_.size()));
  }
  if (!it.status().ok()) return it.status();
  size_t n = index.size();
  if (n > 0) {
    // Keys ascend, so what two user keys share, all keys between them share. The last
    // separator is left out: it is often a short successor ("1" after "0999") that shares
    // nothing, and rank() orders the keys that do not share the prefix anyway.
    std::string_view first = extract_user_key(index.key(0));
    std::string_view last = extract_user_key(index.key(n >= 2 ? n - 2 : 0));
    size_t common = static_cast<size_t>(
        std::mismatch(first.begin(), first.begin() + std::min(first.size(), last.size()),
                      last.begin())
            .first -
        first.begin());
    index.common_.assign(first.substr(0, common));
  }
  index.ranks_.reserve(n);
  for (size_t i = 0; i < n; ++i) index.ranks_.push_back(index.rank(extract_user_key(index.key(i))));
  return index;
}

uint64_t TableIndex::rank(std::string_view user_key) const {
  size_t skip = common_.size();
  if (skip > 0) {
    int c = std::memcmp(user_key.data(), common_.data(), std::min(skip, user_key.size()));
    if (c < 0 || (c == 0 && user_key.size() < skip)) return 0;  // before every shared key
    if (c > 0) return UINT64_MAX;                               // after every shared key
  }
  size_t available = user_key.size() - skip;
  uint64_t raw = 0;
  if (available >= sizeof(raw)) {
    std::memcpy(&raw, user_key.data() + skip, sizeof(raw));
  } else if (available > 0) {
    std::memcpy(&raw, user_key.data() + skip, available);
  }
  if constexpr (std::endian::native == std::endian::little) raw = __builtin_bswap64(raw);
  return raw;
}

size_t TableIndex::seek(std::string_view target) const {
  size_t n = ranks_.size();
  if (n == 0) return 0;
  uint64_t p = rank(extract_user_key(target));
  // Branch-free lower bound: the first entry whose prefix is >= p.
  const uint64_t* base = ranks_.data();
  size_t len = n;
  while (len > 1) {
    size_t half = len / 2;
    base = base[half - 1] < p ? base + half : base;
    len -= half;
  }
  size_t lo = static_cast<size_t>(base - ranks_.data()) + (*base < p ? 1 : 0);
  // Entries whose prefix ties with p need the whole key; usually there are none or one.
  size_t hi = lo;
  while (hi < n && ranks_[hi] == p && hi - lo < 4) ++hi;
  if (hi < n && ranks_[hi] == p) {
    hi = static_cast<size_t>(std::upper_bound(ranks_.begin() + static_cast<ptrdiff_t>(hi),
                                              ranks_.end(), p) -
                             ranks_.begin());
  }
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (compare_internal_keys(key(mid), target) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

}  // namespace weaseldb::storage
