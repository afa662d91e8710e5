#pragma once
// BatchApplier: puts a WriteBatch into a memtable at one sequence number, resolving the
// batch's own order first (WriteBatch contract: a later operation on a key wins; a range
// delete removes what the batch wrote before it in the range, not after). Since every entry
// of the batch shares one sequence, the memtable must see at most one point entry per key and
// one range tombstone per begin key:
//   - of several point operations on a key, only the last is kept;
//   - a point operation followed (later in the batch) by a range delete covering it is
//     dropped: the tombstone alone says the key is gone;
//   - range deletes with the same begin merge into the wider one.
// A point entry is hidden only by tombstones of a *higher* sequence, so a write after a range
// delete in the same batch survives it, as it should.
//
// Contract: validate() checks what DB::write() promises to refuse (sizes, begin < end) and
// returns invalid_argument naming the operation; apply() expects a validated batch.
//
// Ownership: keeps scratch vectors between batches (no allocation per operation once warm).
// One applier per writer thread.

#include <cstdint>
#include <string_view>
#include <vector>

#include "storage/internal_key.hpp"
#include "storage/memtable.hpp"
#include "weaseldb/write_batch.hpp"

namespace weaseldb::storage {

class BatchApplier {
 public:
  // Stateless: callable from any thread.
  static Status validate(const WriteBatch& batch);
  // What validate() checks of a batch holding just this put (or, with an empty value, this
  // delete): DB::put() and DB::del() check their operation before building the batch
  // instead of parsing it back.
  static Status validate_point(std::string_view key, std::string_view value);
  void apply(const WriteBatch& batch, SequenceNumber sequence, MemTable* mem);

 private:
  struct Op {
    ValueType type;
    std::string_view key;
    std::string_view value;  // the end for a range delete
  };
  Status collect(const WriteBatch& batch);
  void apply_one(const WriteBatch& batch, SequenceNumber sequence, MemTable* mem);

  std::vector<Op> ops_;
  std::vector<uint32_t> order_;
  std::vector<uint32_t> ranges_;  // positions of the range deletes, ascending
};

}  // namespace weaseldb::storage
