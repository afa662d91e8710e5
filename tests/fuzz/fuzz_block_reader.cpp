// libFuzzer target for the SSTable block and table readers (src/storage/block.hpp,
// table.hpp): bytes from a damaged or hostile file must never crash, hang or read out of
// bounds, and what the builder writes must read back exactly.
//
// The first input byte picks a mode:
//   0: the rest is a block's bytes: parse and walk it every way (forward, backward, seeks).
//   1: the rest is cut into entries that a BlockBuilder writes; parsing the block must give
//      back exactly those entries, forward and backward, and seeks must find each key.
//   2: the rest is a table file: open it and walk everything it lets through.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/block.hpp"
#include "storage/block_builder.hpp"
#include "storage/coding.hpp"
#include "storage/file.hpp"
#include "storage/internal_key.hpp"
#include "storage/table.hpp"

namespace {

using namespace weaseldb::storage;

void require(bool condition) {
  if (!condition) std::abort();
}

void walk(InternalIterator& it, std::string_view target) {
  size_t steps = 0;
  for (it.seek_to_first(); it.valid() && steps < 100000; it.next(), ++steps) {
    require(it.key().size() >= kTrailerBytes);
  }
  for (it.seek_to_last(); it.valid() && steps < 200000; it.prev(), ++steps) {
    require(it.key().size() >= kTrailerBytes);
  }
  if (target.size() >= kTrailerBytes) {
    it.seek(target);
    if (it.valid()) it.next();
  }
}

void raw_block(std::string_view input) {
  auto block = Block::parse(std::string(input));
  if (!block.ok()) {
    require(block.status().code() == weasel::StatusCode::kCorruption);
    return;
  }
  auto it = block.value()->new_iterator();
  walk(*it, input.substr(0, 16));
}

// Entries: (key length byte, value length byte, bytes...) until the input runs out. Keys are
// made internal keys with distinct, decreasing sequences and sorted by the map.
void round_trip(std::string_view input, uint32_t restart_interval) {
  auto less = [](const std::string& a, const std::string& b) {
    return compare_internal_keys(a, b) < 0;
  };
  std::map<std::string, std::string, decltype(less)> entries(less);
  SequenceNumber sequence = 1 << 20;
  while (input.size() >= 2) {
    size_t key_bytes = static_cast<uint8_t>(input[0]) % 24;
    size_t value_bytes = static_cast<uint8_t>(input[1]) % 64;
    input.remove_prefix(2);
    if (input.size() < key_bytes + value_bytes) break;
    std::string key;
    append_internal_key(&key, input.substr(0, key_bytes), sequence--, ValueType::kValue);
    entries.emplace(key, std::string(input.substr(key_bytes, value_bytes)));
    input.remove_prefix(key_bytes + value_bytes);
  }
  BlockBuilder builder(restart_interval);
  for (const auto& [k, v] : entries) builder.add(k, v);
  auto block = Block::parse(std::string(builder.finish()));
  require(block.ok());
  auto it = block.value()->new_iterator();
  it->seek_to_first();
  for (const auto& [k, v] : entries) {
    require(it->valid() && it->key() == k && it->value() == v);
    it->next();
  }
  require(!it->valid() && it->status().ok());
  it->seek_to_last();
  for (auto e = entries.rbegin(); e != entries.rend(); ++e) {
    require(it->valid() && it->key() == e->first);
    it->prev();
  }
  require(!it->valid() && it->status().ok());
  for (const auto& [k, v] : entries) {
    it->seek(k);
    require(it->valid() && it->key() == k);
  }
}

void table_file(std::string_view input) {
  auto table = Table::open(std::make_unique<StringRandomAccessFile>(input), "fuzz.sst");
  if (!table.ok()) return;
  auto it = table.value()->new_iterator({});
  walk(*it, input.substr(0, 16));
  std::string value;
  auto r = table.value()->get(LookupKey(input.substr(0, 8), kMaxSequenceNumber), {}, &value);
  (void)r.ok();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      raw_block(input);
      break;
    case 1:
      round_trip(input, 1 + data[0] / 3 % 16);
      break;
    default:
      table_file(input);
      break;
  }
  return 0;
}
