// ConflictSet (an adaptive radix tree with per-child max versions) vs a plain baseline: a
// std::map of range boundaries -> version of [boundary, next boundary), with the same
// interface and the same incremental garbage collection (a cursor, two entries examined per
// insertion).
//
// Every benchmark runs on about a million keys of history (far more than the caches hold),
// except the point_read/point_write variants marked kSmallKeys, on ten thousand keys (in cache).
// Keys are "usertable/" followed by 8 hashed bytes (18 bytes, a shared 10-byte prefix).
// Counters: per_op is the time per read or write (per transaction for the batch workloads);
// entries is the history size at the end.
//
// - point_read/N: N point reads per check() call, half on written keys, read versions spread
//   over the window (a mix of conflicts and commits). point_write/N: N writes per call.
// - range_read: [x, x + width) spanning about 16 or 1024 written keys, read version just
//   below the newest writes, so most ranges commit and the baseline walks every boundary.
// - point_write / range_write: steady state, oldest version trailing by a million versions.
// - batch: FoundationDB-style resolver batches of 100 transactions, each with 2 point reads,
//   1 range read (~16 keys), 2 point writes and, one time in ten, a range delete (~4 keys);
//   each transaction is checked, then its writes added if it commits; read versions lag by
//   up to 5 batches; oldest_version advances once per batch.
// - batch_resolve: the same workload, each batch of 100 through one resolve() call (the
//   baseline resolves it one transaction at a time, which is what resolve() means).
//
// Run: ./scripts/build.sh release bench_conflict_set && ./build/release/bench_conflict_set
// (bench/README.md, "Conflict set", has the full command and the figures).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "commit/conflict_set.hpp"

namespace weasel {
namespace {

using Read = ConflictSet::Read;
using Write = ConflictSet::Write;
using Result = ConflictSet::Result;

// ---- baseline --------------------------------------------------------------------------

class MapConflictSet {
 public:
  explicit MapConflictSet(uint64_t oldest) : oldest_(oldest) {}

  void check(std::span<const Read> reads, std::span<Result> results) const {
    for (size_t i = 0; i < reads.size(); ++i) {
      const Read& r = reads[i];
      if (r.read_version < oldest_) {
        results[i] = Result::kTooOld;
        continue;
      }
      auto it = std::prev(steps_.upper_bound(r.begin));
      bool conflict = it->second > r.read_version;
      if (!r.is_point) {
        for (++it; !conflict && it != steps_.end() && (r.end_is_infinite || it->first < r.end);
             ++it) {
          conflict = it->second > r.read_version;
        }
      }
      results[i] = conflict ? Result::kConflict : Result::kCommit;
    }
  }

  void add_writes(std::span<const Write> writes, uint64_t version) {
    for (const Write& w : writes) {
      if (w.is_point) {
        scratch_.assign(w.begin);
        scratch_.push_back('\0');
        write(w.begin, &scratch_, version);
      } else if (w.end_is_infinite) {
        write(w.begin, nullptr, version);
      } else {
        scratch_.assign(w.end);
        write(w.begin, &scratch_, version);
      }
    }
    collect(2 * inserted_);
    inserted_ = 0;
  }

  void set_oldest_version(uint64_t v) {
    oldest_ = std::max(oldest_, v);
    collect(16);
  }

  // The obvious batch: each transaction checked, then its writes added if it commits.
  void resolve(std::span<const ConflictSet::Transaction> txns, std::span<Result> results,
               std::span<bool> committed) {
    size_t at = 0;
    for (size_t i = 0; i < txns.size(); ++i) {
      std::span<Result> mine = results.subspan(at, txns[i].reads.size());
      at += mine.size();
      check(txns[i].reads, mine);
      committed[i] = std::all_of(mine.begin(), mine.end(),
                                 [](Result r) { return r == Result::kCommit; });
      if (committed[i]) add_writes(txns[i].writes, txns[i].version);
    }
  }

  size_t entry_count() const { return steps_.size(); }

 private:
  void write(std::string_view begin, const std::string* end, uint64_t version) {
    if (end != nullptr) {
      uint64_t at_end = std::prev(steps_.upper_bound(*end))->second;
      steps_.erase(steps_.lower_bound(begin), steps_.lower_bound(*end));
      inserted_ += steps_.emplace(*end, at_end).second;
    } else {
      steps_.erase(steps_.lower_bound(begin), steps_.end());
    }
    auto [it, inserted] = steps_.emplace(begin, version);
    if (!inserted) it->second = version;
    inserted_ += inserted;
  }

  // Removes boundaries that no longer change any answer for read versions >= oldest.
  void collect(size_t budget) {
    auto it = steps_.lower_bound(gc_cursor_);
    if (it == steps_.begin()) ++it;  // the "" boundary stays
    uint64_t prev = std::prev(it)->second;
    for (; budget > 0 && it != steps_.end(); --budget) {
      if ((it->second <= oldest_ && prev <= oldest_) || it->second == prev) {
        it = steps_.erase(it);
      } else {
        prev = it->second;
        ++it;
      }
    }
    gc_cursor_ = it == steps_.end() ? std::string() : it->first;
  }

  std::map<std::string, uint64_t, std::less<>> steps_{{"", 0}};
  uint64_t oldest_;
  size_t inserted_ = 0;
  std::string gc_cursor_;
  std::string scratch_;
};

// ---- workload helpers --------------------------------------------------------------------

constexpr uint64_t kKeys = 1'000'000;
constexpr uint64_t kSmallKeys = 10'000;
constexpr size_t kPrefixBytes = 10;

uint64_t mix(uint64_t x) {  // splitmix64 finalizer: a bijection, so distinct ids, distinct keys
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct Rng {
  uint64_t state = 42;
  uint64_t below(uint64_t n) { return mix(state++) % n; }
};

// A key is the prefix and 8 bytes, big-endian so that nearby values are nearby keys.
struct KeyBuf {
  char bytes[kPrefixBytes + 8];
  KeyBuf() { std::memcpy(bytes, "usertable/", kPrefixBytes); }
  std::string_view of_value(uint64_t value) {
    uint64_t be = __builtin_bswap64(value);
    std::memcpy(bytes + kPrefixBytes, &be, 8);
    return {bytes, sizeof(bytes)};
  }
  std::string_view of_id(uint64_t id) { return of_value(mix(id)); }
};

// Written keys are spread evenly over the 64-bit space: this width spans about n of them.
uint64_t width_for(uint64_t n, uint64_t keys) { return (UINT64_MAX / keys) * n; }

template <class Set>
void prefill(Set& set, uint64_t keys) {
  KeyBuf k;
  for (uint64_t id = 0; id < keys; ++id) {
    Write w{k.of_id(id), {}, true, false};
    set.add_writes(std::span(&w, 1), id + 1);
  }
}

// Prefilling a million keys takes a while, and Google Benchmark calls each function several
// times: every benchmark keeps one fixture per set type for the whole run. Write benchmarks
// keep mutating theirs, which is the steady state they measure anyway.
template <class Set, uint64_t kCount = kKeys>
struct Fixture {
  Set set{0};
  uint64_t version = kCount;
  Rng rng;
  Fixture() { prefill(set, kCount); }
};

template <class Set, int kBenchmark, uint64_t kCount = kKeys>
Fixture<Set, kCount>& fixture() {
  static auto* f = new Fixture<Set, kCount>();  // lives until exit, like the process
  return *f;
}

void set_counters(benchmark::State& state, uint64_t ops, size_t entries) {
  state.SetItemsProcessed(static_cast<int64_t>(ops));
  state.counters["per_op"] = benchmark::Counter(static_cast<double>(ops),
                                                benchmark::Counter::kIsRate |
                                                    benchmark::Counter::kInvert);
  state.counters["entries"] = static_cast<double>(entries);
}

// ---- benchmarks ----------------------------------------------------------------------------

template <class Set, uint64_t kCount = kKeys>
void BM_point_read(benchmark::State& state) {
  Fixture<Set, kCount>& f = fixture<Set, 0, kCount>();
  const Set& set = f.set;
  Rng& rng = f.rng;
  const size_t batch = static_cast<size_t>(state.range(0));
  std::vector<KeyBuf> keys(batch);
  std::vector<Read> reads(batch);
  std::vector<Result> results(batch);
  uint64_t ops = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) {
      reads[i] = {keys[i].of_id(rng.below(2 * kCount)), {}, true, false,
                  kCount / 2 + rng.below(kCount / 2)};
    }
    set.check(reads, results);
    benchmark::DoNotOptimize(results.data());
    ops += batch;
  }
  set_counters(state, ops, set.entry_count());
}

template <class Set>
void BM_range_read(benchmark::State& state) {
  Fixture<Set>& f = fixture<Set, 0>();
  const Set& set = f.set;
  Rng& rng = f.rng;
  uint64_t width = width_for(static_cast<uint64_t>(state.range(0)), kKeys);
  KeyBuf b, e;
  uint64_t ops = 0;
  Result result;
  for (auto _ : state) {
    uint64_t x = mix(rng.state++) % (UINT64_MAX - width);
    Read r{b.of_value(x), e.of_value(x + width), false, false, kKeys - 100};
    set.check(std::span(&r, 1), std::span(&result, 1));
    benchmark::DoNotOptimize(result);
    ++ops;
  }
  set_counters(state, ops, set.entry_count());
}

template <class Set, uint64_t kCount = kKeys>
void BM_point_write(benchmark::State& state) {
  Fixture<Set, kCount>& f = fixture<Set, 1, kCount>();
  Set& set = f.set;
  Rng& rng = f.rng;
  uint64_t& version = f.version;
  const size_t batch = static_cast<size_t>(state.range(0));
  std::vector<KeyBuf> keys(batch);
  std::vector<Write> writes(batch);
  uint64_t ops = 0;
  uint64_t next_id = f.version * 64;  // ids of new keys: never used before in this fixture
  for (auto _ : state) {
    ++version;
    // Half new keys, half rewrites of keys still in the window.
    for (size_t i = 0; i < batch; ++i) {
      uint64_t id = rng.below(2) ? ++next_id : version - 1 - rng.below(kCount / 2);
      writes[i] = {keys[i].of_id(id), {}, true, false};
    }
    set.add_writes(writes, version);
    if (version % 64 == 0) set.set_oldest_version(version - kCount / batch);
    ops += batch;
  }
  set_counters(state, ops, set.entry_count());
}

template <class Set>
void BM_range_write(benchmark::State& state) {
  Fixture<Set>& f = fixture<Set, 2>();
  Set& set = f.set;
  Rng& rng = f.rng;
  uint64_t& version = f.version;
  uint64_t first = version;
  uint64_t width = width_for(2, kKeys);
  KeyBuf b, e;
  for (auto _ : state) {
    ++version;
    uint64_t x = mix(rng.state++) % (UINT64_MAX - width);
    Write w{b.of_value(x), e.of_value(x + width), false, false};
    set.add_writes(std::span(&w, 1), version);
    if (version % 64 == 0) set.set_oldest_version(version - kKeys);
  }
  set_counters(state, version - first, set.entry_count());
}

template <class Set>
void BM_batch(benchmark::State& state) {
  constexpr uint64_t kTxnsPerBatch = 100;
  constexpr uint64_t kWindowVersions = 400'000;  // ~2 point writes each: ~1M keys of history
  constexpr uint64_t kKeySpace = 2 * kKeys;
  Fixture<Set>& f = fixture<Set, 3>();
  Set& set = f.set;
  Rng& rng = f.rng;
  uint64_t& version = f.version;
  uint64_t range_width = width_for(16, kKeys);
  uint64_t delete_width = width_for(4, kKeys);
  KeyBuf keys[6];
  uint64_t txns = 0;
  uint64_t committed = 0;
  Read reads[3];
  Write writes[3];
  Result results[3];
  for (auto _ : state) {
    uint64_t batch_start = version;
    for (uint64_t t = 0; t < kTxnsPerBatch; ++t) {
      uint64_t rv = batch_start - rng.below(5 * kTxnsPerBatch);
      uint64_t x = mix(rng.state++) % (UINT64_MAX - range_width);
      reads[0] = {keys[0].of_id(rng.below(kKeySpace)), {}, true, false, rv};
      reads[1] = {keys[1].of_id(rng.below(kKeySpace)), {}, true, false, rv};
      reads[2] = {keys[2].of_value(x), keys[3].of_value(x + range_width), false, false, rv};
      set.check(reads, results);
      ++version;
      ++txns;
      if (results[0] != Result::kCommit || results[1] != Result::kCommit ||
          results[2] != Result::kCommit) {
        continue;
      }
      ++committed;
      writes[0] = {keys[0].of_id(rng.below(kKeySpace)), {}, true, false};
      writes[1] = {keys[1].of_id(rng.below(kKeySpace)), {}, true, false};
      size_t n = 2;
      if (rng.below(10) == 0) {
        uint64_t y = mix(rng.state++) % (UINT64_MAX - delete_width);
        writes[n++] = {keys[4].of_value(y), keys[5].of_value(y + delete_width), false, false};
      }
      set.add_writes(std::span(writes, n), version);
    }
    set.set_oldest_version(version > kWindowVersions ? version - kWindowVersions : 0);
  }
  set_counters(state, txns, set.entry_count());
  state.counters["commit_rate"] = static_cast<double>(committed) / static_cast<double>(txns);
}

// The same workload as BM_batch, but each batch of 100 transactions goes through one
// resolve() call (the reads of all of them are looked up together). Each transaction's
// reads and writes are drawn before the call, so its writes are drawn even when it fails.
template <class Set>
void BM_batch_resolve(benchmark::State& state) {
  constexpr size_t kTxnsPerBatch = 100;
  constexpr uint64_t kWindowVersions = 400'000;
  constexpr uint64_t kKeySpace = 2 * kKeys;
  Fixture<Set>& f = fixture<Set, 4>();
  Set& set = f.set;
  Rng& rng = f.rng;
  uint64_t& version = f.version;
  uint64_t range_width = width_for(16, kKeys);
  uint64_t delete_width = width_for(4, kKeys);
  std::vector<KeyBuf> keys(kTxnsPerBatch * 8);
  std::vector<Read> reads(kTxnsPerBatch * 3);
  std::vector<Write> writes(kTxnsPerBatch * 3);
  std::vector<Result> results(kTxnsPerBatch * 3);
  std::vector<ConflictSet::Transaction> txns(kTxnsPerBatch);
  std::unique_ptr<bool[]> committed(new bool[kTxnsPerBatch]);
  uint64_t txn_count = 0;
  uint64_t committed_count = 0;
  for (auto _ : state) {
    uint64_t batch_start = version;
    for (size_t t = 0; t < kTxnsPerBatch; ++t) {
      KeyBuf* k = &keys[8 * t];
      Read* r = &reads[3 * t];
      Write* w = &writes[3 * t];
      uint64_t rv = batch_start - rng.below(5 * kTxnsPerBatch);
      uint64_t x = mix(rng.state++) % (UINT64_MAX - range_width);
      r[0] = {k[0].of_id(rng.below(kKeySpace)), {}, true, false, rv};
      r[1] = {k[1].of_id(rng.below(kKeySpace)), {}, true, false, rv};
      r[2] = {k[2].of_value(x), k[3].of_value(x + range_width), false, false, rv};
      w[0] = {k[4].of_id(rng.below(kKeySpace)), {}, true, false};
      w[1] = {k[5].of_id(rng.below(kKeySpace)), {}, true, false};
      size_t n = 2;
      if (rng.below(10) == 0) {
        uint64_t y = mix(rng.state++) % (UINT64_MAX - delete_width);
        w[n++] = {k[6].of_value(y), k[7].of_value(y + delete_width), false, false};
      }
      txns[t] = {std::span<const Read>(r, 3), std::span<const Write>(w, n), ++version};
    }
    set.resolve(txns, results, std::span(committed.get(), kTxnsPerBatch));
    for (size_t t = 0; t < kTxnsPerBatch; ++t) committed_count += committed[t];
    txn_count += kTxnsPerBatch;
    set.set_oldest_version(version > kWindowVersions ? version - kWindowVersions : 0);
  }
  set_counters(state, txn_count, set.entry_count());
  state.counters["commit_rate"] =
      static_cast<double>(committed_count) / static_cast<double>(txn_count);
}

#define WEASEL_BENCH_PAIR(bm)                                            \
  BENCHMARK_TEMPLATE(bm, ConflictSet)->Unit(benchmark::kNanosecond);     \
  BENCHMARK_TEMPLATE(bm, MapConflictSet)->Unit(benchmark::kNanosecond)

BENCHMARK_TEMPLATE(BM_point_read, ConflictSet)->Arg(1)->Arg(32);
BENCHMARK_TEMPLATE(BM_point_read, MapConflictSet)->Arg(1)->Arg(32);
BENCHMARK_TEMPLATE(BM_range_read, ConflictSet)->Arg(16)->Arg(1024);
BENCHMARK_TEMPLATE(BM_range_read, MapConflictSet)->Arg(16)->Arg(1024);
BENCHMARK_TEMPLATE(BM_point_write, ConflictSet)->Arg(1)->Arg(32);
BENCHMARK_TEMPLATE(BM_point_write, MapConflictSet)->Arg(1)->Arg(32);
// The same on 10,000 keys of history, which fit in cache: what the search itself costs.
BENCHMARK_TEMPLATE(BM_point_read, ConflictSet, kSmallKeys)->Arg(32);
BENCHMARK_TEMPLATE(BM_point_read, MapConflictSet, kSmallKeys)->Arg(32);
BENCHMARK_TEMPLATE(BM_point_write, ConflictSet, kSmallKeys)->Arg(32);
BENCHMARK_TEMPLATE(BM_point_write, MapConflictSet, kSmallKeys)->Arg(32);
WEASEL_BENCH_PAIR(BM_range_write);
BENCHMARK_TEMPLATE(BM_batch, ConflictSet)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_batch, MapConflictSet)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_batch_resolve, ConflictSet)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_batch_resolve, MapConflictSet)->Unit(benchmark::kMicrosecond);

// Prints what Google Benchmark prints, then one RESULT line per benchmark pair: the median
// per_op of each side over the repetitions and the ratio baseline / ConflictSet, as the
// median and range of the per-repetition ratios (with random interleaving, repetition i of
// both sides ran at about the same time, so each ratio compares like with like).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_None) {}  // plain text: the output goes to files

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      auto it = run.counters.find("per_op");
      if (run.run_type != Run::RT_Iteration || it == run.counters.end()) continue;
      per_op_[run.run_name.str()].push_back(it->second.value * 1e9);
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    const std::string ours = "<ConflictSet";
    for (const auto& [name, cset] : per_op_) {
      size_t at = name.find(ours);
      if (at == std::string::npos) continue;
      std::string peer_name = name;
      peer_name.replace(at, ours.size(), "<MapConflictSet");
      auto peer = per_op_.find(peer_name);
      if (peer == per_op_.end()) continue;
      std::vector<double> ratios;
      for (size_t i = 0; i < std::min(cset.size(), peer->second.size()); ++i) {
        ratios.push_back(peer->second[i] / cset[i]);
      }
      std::printf("RESULT %s conflict_set_ns=%.1f map_ns=%.1f ratio=%.2f ratio_min=%.2f "
                  "ratio_max=%.2f rounds=%zu\n",
                  name.c_str(), median(cset), median(peer->second), median(ratios),
                  *std::min_element(ratios.begin(), ratios.end()),
                  *std::max_element(ratios.begin(), ratios.end()), ratios.size());
    }
  }

 private:
  static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }

  std::map<std::string, std::vector<double>> per_op_;
};

}  // namespace
}  // namespace weasel

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  weasel::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
