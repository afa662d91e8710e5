// db_bench's flag parsing (contract: db_bench_flags.hpp).

#include "bench/db_bench_flags.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <string_view>

#include "bench/db_bench_engines.hpp"

namespace weasel::bench {

namespace {

std::vector<std::string> split(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

Status bad(std::string_view flag, std::string_view value, std::string_view why) {
  return Status::invalid_argument(fmt::format("--{}={}: {}", flag, value, why));
}

// An unsigned integer in [lo, hi].
Status parse_u64(std::string_view flag, std::string_view value, uint64_t lo, uint64_t hi,
                 uint64_t* out) {
  uint64_t v = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (error != std::errc() || end != value.data() + value.size()) {
    return bad(flag, value, "not an unsigned integer");
  }
  if (v < lo || v > hi) return bad(flag, value, fmt::format("outside [{}, {}]", lo, hi));
  *out = v;
  return {};
}

bool is_benchmark(const std::string& name) {
  static const std::vector<std::string> known = split(kAllBenchmarks);
  uint64_t every = 0;
  for (const std::string& k : known) {
    if (k == name) return true;
  }
  return parse_fillsync(name, &every);
}

using Setter = std::function<Status(Flags&, std::string_view)>;

Setter u64_flag(std::string_view flag, uint64_t lo, uint64_t hi, uint64_t Flags::*field) {
  return [flag, lo, hi, field](Flags& f, std::string_view v) {
    return parse_u64(flag, v, lo, hi, &(f.*field));
  };
}

Setter size_flag(std::string_view flag, uint64_t lo, uint64_t hi, size_t Flags::*field) {
  return [flag, lo, hi, field](Flags& f, std::string_view v) {
    uint64_t x = 0;
    Status s = parse_u64(flag, v, lo, hi, &x);
    if (s.ok()) f.*field = static_cast<size_t>(x);
    return s;
  };
}

Setter bool_flag(std::string_view flag, bool Flags::*field) {
  return [flag, field](Flags& f, std::string_view v) {
    if (v != "0" && v != "1" && v != "true" && v != "false") {
      return bad(flag, v, "not a boolean (0, 1, true, false)");
    }
    f.*field = v == "1" || v == "true";
    return Status();
  };
}

const std::map<std::string, Setter, std::less<>>& setters() {
  static const std::map<std::string, Setter, std::less<>> table = {
      {"engine",
       [](Flags& f, std::string_view v) {
         f.engines = v == "all" ? std::vector<std::string>{"weaseldb", "rocksdb", "leveldb"}
                                : split(v);
         if (f.engines.empty()) return bad("engine", v, "no engine named");
         for (const std::string& e : f.engines) {
           if (!is_engine_name(e)) {
             return bad("engine", v, fmt::format("unknown engine '{}' (weaseldb, rocksdb, "
                                                 "leveldb, all)", e));
           }
         }
         return Status();
       }},
      {"benchmarks",
       [](Flags& f, std::string_view v) {
         f.benchmarks = split(v);
         if (f.benchmarks.empty()) return bad("benchmarks", v, "no benchmark named");
         for (const std::string& b : f.benchmarks) {
           if (!is_benchmark(b)) {
             return bad("benchmarks", v, fmt::format("unknown benchmark '{}' (known: {}, "
                                                     "fillsyncN)", b, kAllBenchmarks));
           }
         }
         return Status();
       }},
      {"num", u64_flag("num", 1, uint64_t{1} << 32, &Flags::num)},
      {"reads", u64_flag("reads", 0, uint64_t{1} << 32, &Flags::reads)},
      {"key_size", size_flag("key_size", 8, 1024, &Flags::key_size)},
      {"value_size", size_flag("value_size", 0, size_t{1} << 20, &Flags::value_size)},
      {"cache_size", size_flag("cache_size", 0, uint64_t{1} << 40, &Flags::cache_size)},
      {"block_size", size_flag("block_size", 256, size_t{64} << 20, &Flags::block_size)},
      {"write_buffer_size",
       size_flag("write_buffer_size", size_t{64} << 10, uint64_t{1} << 34,
                 &Flags::write_buffer_size)},
      {"max_write_buffer_number",
       u64_flag("max_write_buffer_number", 2, 64, &Flags::max_write_buffer_number)},
      {"seed", u64_flag("seed", 0, UINT64_MAX, &Flags::seed)},
      {"seek_nexts", u64_flag("seek_nexts", 0, 1000000, &Flags::seek_nexts)},
      {"bloom_bits",
       [](Flags& f, std::string_view v) {
         uint64_t x = 0;
         Status s = parse_u64("bloom_bits", v, 0, 100, &x);
         f.bloom_bits = static_cast<int>(x);
         return s;
       }},
      {"compression",
       [](Flags& f, std::string_view v) {
         if (v != "none" && v != "lz4" && v != "snappy" && v != "zstd") {
           return bad("compression", v, "not one of none, lz4, snappy, zstd");
         }
         f.compression = std::string(v);
         return Status();
       }},
      {"compression_ratio",
       [](Flags& f, std::string_view v) {
         double x = 0;
         auto [end, error] = std::from_chars(v.data(), v.data() + v.size(), x);
         if (error != std::errc() || end != v.data() + v.size() || !(x > 0 && x <= 1)) {
           return bad("compression_ratio", v, "not a number in (0, 1]");
         }
         f.compression_ratio = x;
         return Status();
       }},
      {"db",
       [](Flags& f, std::string_view v) {
         if (v.empty()) return bad("db", v, "empty path");
         f.db = std::string(v);
         return Status();
       }},
      {"keep_db", bool_flag("keep_db", &Flags::keep_db)},
      {"verify_checksum", bool_flag("verify_checksum", &Flags::verify_checksum)},
      {"use_existing_db", bool_flag("use_existing_db", &Flags::use_existing_db)},
  };
  return table;
}

}  // namespace

bool parse_fillsync(const std::string& name, uint64_t* every) {
  std::string_view rest(name);
  if (rest.substr(0, 8) != "fillsync") return false;
  rest.remove_prefix(8);
  if (rest.empty()) {
    *every = 1000;
    return true;
  }
  auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), *every);
  return error == std::errc() && end == rest.data() + rest.size() && *every > 0;
}

Result<Flags> parse_flags(int argc, char** argv, bool* help) {
  Flags flags;
  flags.benchmarks = split(kAllBenchmarks);
  *help = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg(argv[i]);
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return flags;
    }
    if (arg.substr(0, 2) != "--" || arg.find('=') == std::string_view::npos) {
      return Status::invalid_argument(fmt::format("'{}': expected --name=value", arg));
    }
    arg.remove_prefix(2);
    size_t eq = arg.find('=');
    std::string_view name = arg.substr(0, eq);
    auto setter = setters().find(name);
    if (setter == setters().end()) {
      return Status::invalid_argument(fmt::format("unknown flag --{} (see --help)", name));
    }
    Status s = setter->second(flags, arg.substr(eq + 1));
    if (!s.ok()) return s;
  }
  // Keys are the operation's index in decimal, zero-padded: it must fit.
  double digits = std::ceil(std::log10(static_cast<double>(flags.num)));
  if (digits > static_cast<double>(std::min<size_t>(flags.key_size, 19))) {
    return Status::invalid_argument(
        fmt::format("--num={} needs keys longer than --key_size={}", flags.num, flags.key_size));
  }
  if (flags.reads == 0) flags.reads = flags.num;
  if (flags.use_existing_db) flags.keep_db = true;
  return flags;
}

const char* usage() {
  return R"(db_bench: WeaselDB's storage engine vs RocksDB and LevelDB, same workloads, same settings.

Usage: db_bench [--name=value ...]
  --engine=weaseldb|rocksdb|leveldb   a comma list, or all (default all); each engine runs in
                                      a child process of its own (separate peak RSS)
  --benchmarks=LIST   comma list, run in order (default fillseq,fillrandom,overwrite,
                      readrandom,seekrandom,readseq,fillsync1000):
                        fillseq       N writes in key order into a fresh database
                        fillrandom    N writes of uniformly random keys into a fresh database
                        overwrite     N random writes into the existing database
                        readrandom    compact everything (untimed), then --reads random gets
                        seekrandom    --reads times: new iterator, seek a random key, next()
                                      --seek_nexts times
                        readseq       one iterator over the whole database
                        fillsyncN     fillrandom into a fresh database, every Nth write synced
                                      (fsync); fillsync = fillsync1000
  --num=N             keys (default 1000000)        --reads=N   (default: --num)
  --key_size=16       --value_size=100              --compression_ratio=0.5 (of the values)
  --db=DIR            parent of one directory per engine (default /tmp/weasel_db_bench);
                      removed at the end unless --keep_db=1; --use_existing_db=1 starts
                      from what it holds (implies --keep_db=1)
  --cache_size=BYTES  block cache of every engine (default 67108864)
  --block_size=16384  --bloom_bits=10  --compression=lz4 (none, lz4, snappy, zstd; LevelDB
                      1.23 only has snappy, used instead)
  --write_buffer_size=BYTES   memtable size of every engine (default 67108864)
  --max_write_buffer_number=2 memtables in memory at once, the active one included (RocksDB's
                      option; WeaselDB's max_immutable_memtables + 1; LevelDB: always 2)
  --seed=301          --seek_nexts=10
  --verify_checksum=1 check block checksums on reads, in every engine (LevelDB's own default
                      is off)
Writes go through the WAL without fsync (except fillsyncN). Output: one line per engine and
benchmark, then the ratios weaseldb/peer and each engine's peak RSS (VmHWM).
)";
}

}  // namespace weasel::bench
