#pragma once
// db_bench's command line: LevelDB/RocksDB db_bench style flags (--name=value), parsed and
// validated into Flags. Unknown flags and bad values are errors (the caller prints the
// message and exits 2).
//
// Ownership: plain values.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.hpp"

namespace weasel::bench {

inline constexpr const char* kAllBenchmarks =
    "fillseq,fillrandom,overwrite,readrandom,seekrandom,readseq,fillsync1000";

struct Flags {
  std::vector<std::string> engines{"weaseldb", "rocksdb", "leveldb"};
  std::vector<std::string> benchmarks;  // from kAllBenchmarks by default
  uint64_t num = 1000000;
  uint64_t reads = 0;  // readrandom and seekrandom operations; 0: num
  size_t key_size = 16;
  size_t value_size = 100;
  double compression_ratio = 0.5;  // of the generated values, as in db_bench
  std::string db = "/tmp/weasel_db_bench";
  size_t cache_size = size_t{64} << 20;
  size_t block_size = size_t{16} << 10;
  size_t write_buffer_size = size_t{64} << 20;
  uint64_t max_write_buffer_number = 2;
  int bloom_bits = 10;
  std::string compression = "lz4";
  uint64_t seed = 301;
  uint64_t seek_nexts = 10;
  bool keep_db = false;
  bool verify_checksum = true;
  bool use_existing_db = false;  // start from what --db holds (profiling reads)
};

// Parses argv[1..argc); invalid_argument naming the flag on any error. `help` is set when
// --help was given (nothing else is then checked).
Result<Flags> parse_flags(int argc, char** argv, bool* help);

const char* usage();

// fillsyncN: true and *every = N (1000 for a bare "fillsync").
bool parse_fillsync(const std::string& name, uint64_t* every);

}  // namespace weasel::bench
