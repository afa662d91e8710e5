#include "storage/block_cache.hpp"

#include "core/assert.hpp"

namespace weaseldb::storage {

static_assert(BlockCache::kShards == 16, "shard_of() takes the hash's top 4 bits");

namespace {
constexpr size_t kMinSlots = 16;

// Adds one to a counter only its shard's lock holder writes.
void count(std::atomic<uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
}  // namespace

BlockCache::BlockCache(size_t capacity_bytes) : shard_capacity_(capacity_bytes / kShards) {}

uint64_t BlockCache::next_table_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

uint64_t BlockCache::hash(uint64_t table_id, uint64_t offset) {
  uint64_t h = (table_id * 0x9E3779B97F4A7C15ULL) ^ (offset * 0xC2B2AE3D27D4EB4FULL);
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 32);
}

// The slot holding the key, or slots.size() when it is not there.
size_t BlockCache::find(const Shard& shard, uint64_t h, uint64_t table_id, uint64_t offset) {
  size_t n = shard.slots.size();
  if (n == 0) return 0;
  size_t mask = n - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& slot = shard.slots[i];
    if (slot.table_id == 0) return n;
    if (slot.table_id == table_id && slot.offset == offset) return i;
  }
}

std::shared_ptr<const Block> BlockCache::lookup(uint64_t table_id, uint64_t offset) {
  uint64_t h = hash(table_id, offset);
  Shard& shard = shard_of(h);
  std::lock_guard lock(shard.mu);
  size_t i = find(shard, h, table_id, offset);
  if (i == shard.slots.size()) {
    count(shard.misses);
    return nullptr;
  }
  count(shard.hits);
  Slot& slot = shard.slots[i];
  slot.referenced = true;
  // Copying the pointer increments the block's count: a cache miss that would otherwise
  // come alone, followed by the ranks and the restart array, each one more.
  slot.block->prefetch_for_seek(slot.restarts);
  return slot.block;
}

void BlockCache::place(Shard& shard, Slot slot) {
  size_t mask = shard.slots.size() - 1;
  size_t i = hash(slot.table_id, slot.offset) & mask;
  while (shard.slots[i].table_id != 0) i = (i + 1) & mask;
  shard.slots[i] = std::move(slot);
}

void BlockCache::grow(Shard& shard) {
  std::vector<Slot> old = std::move(shard.slots);
  shard.slots = std::vector<Slot>(std::max(kMinSlots, old.size() * 2));
  for (Slot& slot : old) {
    if (slot.table_id != 0) place(shard, std::move(slot));
  }
  shard.hand = 0;
}

// Empties slot i and shifts later entries of its probe run back, so that no lookup stops
// early at the hole (no tombstones).
void BlockCache::erase_at(Shard& shard, size_t i) {
  size_t mask = shard.slots.size() - 1;
  shard.slots[i] = Slot{};
  --shard.count;
  for (size_t j = (i + 1) & mask; shard.slots[j].table_id != 0; j = (j + 1) & mask) {
    size_t home = hash(shard.slots[j].table_id, shard.slots[j].offset) & mask;
    // The entry at j may move to the hole at i unless its home lies cyclically in (i, j].
    bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (!stays) {
      shard.slots[i] = std::move(shard.slots[j]);
      shard.slots[j] = Slot{};
      i = j;
    }
  }
}

void BlockCache::evict(Shard& shard, size_t limit) {
  size_t mask = shard.slots.size() - 1;
  // Each step clears a referenced bit or evicts, so two sweeps evict at least one entry.
  while (shard.usage > limit) {
    WEASEL_ASSERT(shard.count > 0);
    Slot& slot = shard.slots[shard.hand];
    if (slot.table_id == 0) {
      shard.hand = (shard.hand + 1) & mask;
    } else if (slot.referenced) {
      slot.referenced = false;
      shard.hand = (shard.hand + 1) & mask;
    } else {
      shard.usage -= slot.charge;
      erase_at(shard, shard.hand);  // the hand stays: an entry may have moved into its slot
    }
  }
}

void BlockCache::insert(uint64_t table_id, uint64_t offset, std::shared_ptr<const Block> block) {
  WEASEL_ASSERT(table_id != 0);
  size_t charge = block->size();
  // Larger than a shard would evict everything and still not fit.
  if (charge > shard_capacity_ || charge > UINT32_MAX) return;
  uint64_t h = hash(table_id, offset);
  Shard& shard = shard_of(h);
  std::lock_guard lock(shard.mu);
  size_t found = find(shard, h, table_id, offset);
  if (found != shard.slots.size()) {  // a racing reader inserted it first
    shard.slots[found].referenced = true;
    return;
  }
  // Room first, so that the sweep cannot take the new block: a block just read gets its
  // chance to be hit before the hand comes round.
  evict(shard, shard_capacity_ - charge);
  if ((shard.count + 1) * 2 > shard.slots.size()) grow(shard);
  const char* restarts = block->restarts();
  place(shard, Slot{table_id, offset, std::move(block), restarts,
                    static_cast<uint32_t>(charge), false});
  ++shard.count;
  shard.usage += charge;
}

uint64_t BlockCache::hits() const {
  uint64_t total = 0;
  for (const Shard& shard : shards_) total += shard.hits.load(std::memory_order_relaxed);
  return total;
}

uint64_t BlockCache::misses() const {
  uint64_t total = 0;
  for (const Shard& shard : shards_) total += shard.misses.load(std::memory_order_relaxed);
  return total;
}

size_t BlockCache::usage_bytes() const {
  size_t total = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(const_cast<std::mutex&>(shard.mu));
    total += shard.usage;
  }
  return total;
}

}  // namespace weaseldb::storage
