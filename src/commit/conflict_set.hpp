#pragma once
// ConflictSet: the resolver's memory of recent writes, used to check optimistic
// preconditions (SPEC.md section 3, POST /v1/commit; DESIGN.md section 3).
//
// Contract
// - It maps every key to the highest version that wrote it (point write, delete or range
//   delete), for versions above oldest_version(). Keys are arbitrary bytes ordered by memcmp,
//   shorter prefix first; the empty key is valid.
// - check(): per read, kTooOld if read_version < oldest_version(); else kConflict if some
//   write with version > read_version covers a key the read covers; else kCommit. An empty
//   range (begin >= end) covers nothing.
// - add_writes(): records writes at `version`. Versions passed to successive calls never
//   decrease (asserted). Writes at versions <= oldest_version() can never conflict with a
//   read that is not too old, so they are dropped. An empty range writes nothing.
// - set_oldest_version(v): reads below v become kTooOld; history at or below v is collected
//   incrementally (a bounded slice per call and per write), so memory follows the window
//   without pauses. Lower values than the current one are ignored.
// - The window spans at most kMaxVersionSpan versions: writes at a version more than that
//   above oldest_version() (add_writes(), or a committed transaction of resolve()) first
//   raise it to version - kMaxVersionSpan, as set_oldest_version() would (the tree stores
//   versions in 32 bits relative to a base at or below the oldest one; see
//   conflict_set_art.hpp). The pipeline's versions advance one per commit, so only a jump
//   of more than 2^31 versions within the time window reaches this.
// - Usage by the resolver, per transaction in version order: check(its reads), and if all
//   commit, add_writes(its writes, its version); conflicts inside a batch resolve in order.
// - resolve(): the same for many transactions in one call, with exactly that outcome (each
//   transaction sees the writes of the committed ones before it). Every read is first looked
//   up against the history before the batch, in groups that span transactions (their cache
//   misses overlap), then checked against the batch's own earlier writes in a small scratch
//   tree that stays in cache; the writes of the committed transactions then go in, in order,
//   runs of point-only transactions in shared grouped descents. It is 1.2-1.3x faster than
//   the per-transaction loop (bench/README.md, "Conflict set").
// - Cost: point reads and writes descend an adaptive radix tree (cset::ArtTree) one key byte
//   or compressed prefix per level, a few cache lines in all; a range read visits the nodes
//   on the paths of its two ends and judges the children between them by their slots alone
//   (per-child maximum versions), whatever the number of keys in the range. Several reads
//   in one check() (or point writes in one add_writes()) descend together in a tree too
//   large for the cache, so their misses overlap (a tree in cache is searched one key at a
//   time): pass a transaction's reads in one call (or a batch of transactions to
//   resolve()). No allocation per read; a write takes a slab slot for a node when its key
//   needs one (a key ending within 7 bytes below its parent takes none), and a key-pool
//   slot for a compressed prefix longer than 40 bytes. Nodes live in 2 MiB chunks backed by
//   huge pages where the kernel allows (transparent huge pages on "madvise" or "always").
//
// Ownership: the set copies the keys it keeps; string_views in Read/Write are only read
// during the call. Not copyable or movable. Not thread-safe: one resolver thread writes;
// check() is const and reads nothing else, so concurrent checks need no writer.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "commit/conflict_set_art.hpp"

namespace weasel {

class ConflictSet {
 public:
  explicit ConflictSet(uint64_t oldest_version = 0);

  enum class Result : uint8_t { kCommit, kConflict, kTooOld };

  // The widest window (see above): half the 32-bit range the tree stores versions in, so
  // that a rebase of the tree, which moves its base up to oldest_version(), leaves room for
  // at least 2^31 more versions (its O(n) walk is then amortised over them).
  static constexpr uint64_t kMaxVersionSpan = uint64_t{1} << 31;

  // Point read: is_point, `end` ignored. Range read: [begin, end), or [begin, inf) when
  // end_is_infinite.
  struct Read {
    std::string_view begin;
    std::string_view end;
    bool is_point;
    bool end_is_infinite;
    uint64_t read_version;
  };

  // Point write or delete: is_point, `end` ignored. Range delete: [begin, end), or
  // [begin, inf) when end_is_infinite.
  struct Write {
    std::string_view begin;
    std::string_view end;
    bool is_point;
    bool end_is_infinite;
  };

  // One transaction of a resolve() batch.
  struct Transaction {
    std::span<const Read> reads;
    std::span<const Write> writes;
    uint64_t version;  // non-decreasing along the batch and across calls
  };

  // results.size() must be >= reads.size(); results[i] answers reads[i].
  void check(std::span<const Read> reads, std::span<Result> results) const;
  void add_writes(std::span<const Write> writes, uint64_t version);
  // Resolves `txns` in order. `results` receives the answers to every transaction's reads,
  // one transaction after the other (size >= the total number of reads); committed[i] is
  // true when every read of txns[i] commits, and then its writes were added at its version.
  void resolve(std::span<const Transaction> txns, std::span<Result> results,
               std::span<bool> committed);
  void set_oldest_version(uint64_t v);
  uint64_t oldest_version() const { return oldest_version_; }
  size_t memory_bytes() const;

  // Boundary entries currently stored (a gauge and a test hook for collection).
  size_t entry_count() const { return tree_.entry_count(); }
  // O(n) structural self-check that aborts on corruption; for tests.
  void check_invariants() const { tree_.check_invariants(); }

 private:
  Result check_one(const Read& read) const;
  void check_group(const Read* const* reads, Result* const* results, int n) const;
  void resolve_in_batch(std::span<const Transaction> txns, std::span<Result> results,
                        std::span<bool> committed);
  void apply_committed(std::span<const Transaction> txns, std::span<const bool> committed);
  void apply_grouped(std::span<const Write> writes, uint64_t version);
  void pay_for_inserts();
  void keep_within_span(uint64_t version);
  void collect_if_due();

  cset::ArtTree tree_;
  // resolve()'s scratch: the writes of the batch's transactions committed so far. Empty
  // between calls; its nodes and key slabs stay cached for the next batch.
  cset::ArtTree batch_{false};
  uint64_t oldest_version_;
  uint64_t newest_version_ = 0;
  uint64_t inserts_paid_ = 0;  // tree insertions already charged to gc_debt_
  int64_t gc_debt_ = 0;        // entries to examine; negative when collection ran ahead
};

}  // namespace weasel
