// db_bench: drives WeaselDB's storage engine, RocksDB and LevelDB through the same workloads
// with the same settings (db_bench_flags.hpp; engines: db_bench_engines.hpp) and prints
// LevelDB db_bench style lines, the ratios weaseldb/peer and each engine's peak RSS.
//
// Each engine runs in a forked child of its own, so its peak RSS (VmHWM) is its own; the
// parent runs each workload on every engine in turn (see Child), the child prints its lines
// and sends its figures back through a pipe. Workloads use the same seeded key sequences for
// every engine, so they read and write the same keys.

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bench/db_bench_engines.hpp"
#include "bench/db_bench_flags.hpp"

namespace weasel::bench {

namespace {

// splitmix64: deterministic, cheap, good enough for uniform key indexes.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t uniform(uint64_t n) { return next() % n; }

 private:
  uint64_t state_;
};

// db_bench's value generator: a pool of pieces that compress to about `ratio` of their size
// (random bytes, then a repetition of them), handed out round robin.
class ValueGenerator {
 public:
  ValueGenerator(size_t value_size, double ratio, uint64_t seed) : value_size_(value_size) {
    Random rnd(seed);
    size_t piece = std::max<size_t>(100, value_size);
    while (data_.size() < std::max<size_t>(size_t{1} << 20, value_size)) {
      size_t raw = std::max<size_t>(1, static_cast<size_t>(static_cast<double>(piece) * ratio));
      std::string random(raw, '\0');
      for (char& c : random) c = static_cast<char>(' ' + rnd.uniform(95));
      for (size_t i = 0; i < piece; ++i) data_.push_back(random[i % raw]);
    }
  }
  std::string_view next() {
    if (position_ + value_size_ > data_.size()) position_ = 0;
    std::string_view v(data_.data() + position_, value_size_);
    position_ += value_size_;
    return v;
  }

 private:
  size_t value_size_;
  std::string data_;
  size_t position_ = 0;
};

// Key i: its decimal digits, zero-padded on the left to key_size bytes.
class KeyFormatter {
 public:
  explicit KeyFormatter(size_t key_size) : key_(key_size, '0') {}
  std::string_view make(uint64_t i) {
    char* p = key_.data() + key_.size();
    do {
      *--p = static_cast<char>('0' + i % 10);
      i /= 10;
    } while (i != 0 && p != key_.data());
    std::fill(key_.data(), p, '0');
    return key_;
  }

 private:
  std::string key_;
};

uint64_t read_status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  size_t n = std::char_traits<char>::length(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0) return std::stoull(line.substr(n + 1));
  }
  return 0;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so each workload reports its own peak.
void reset_peak_rss() {
  int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)!::write(fd, "5", 1);
  ::close(fd);
}

struct Outcome {
  uint64_t ops = 0;
  uint64_t bytes = 0;
  uint64_t found = 0;     // reads only
  uint64_t expected = 0;  // reads only: how many were asked for
};

[[noreturn]] void die(std::string_view engine, std::string_view workload, const Status& s) {
  std::fprintf(stderr, "db_bench: engine=%.*s %.*s: %s\n", static_cast<int>(engine.size()),
               engine.data(), static_cast<int>(workload.size()), workload.data(),
               s.to_string().c_str());
  std::_Exit(1);
}

bool read_line(int fd, std::string* line) {
  line->clear();
  char c;
  while (true) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (c == '\n') return true;
    line->push_back(c);
  }
}

class Runner {
 public:
  Runner(const Flags& flags, std::string engine, int report_fd)
      : flags_(flags), engine_name_(std::move(engine)), report_fd_(report_fd) {
    config_.path = fmt::format("{}/{}", flags.db, engine_name_);
    config_.cache_bytes = flags.cache_size;
    config_.block_bytes = flags.block_size;
    config_.write_buffer_bytes = flags.write_buffer_size;
    config_.write_buffers = static_cast<int>(flags.max_write_buffer_number);
    config_.bloom_bits = flags.bloom_bits;
    config_.compression = flags.compression;
    config_.verify_checksums = flags.verify_checksum;
  }

  // Runs the workloads the parent names on command_fd, one line each, until end of input;
  // answers each with its figures on report_fd.
  void serve(int command_fd) {
    std::string name;
    size_t index = 0;
    while (read_line(command_fd, &name)) {
      if (engine_ == nullptr) {
        open(!flags_.use_existing_db);
        std::printf("engine=%s %s\n", engine_name_.c_str(), engine_->describe().c_str());
      }
      run(name, index++);
    }
    engine_.reset();
    if (!flags_.keep_db) std::filesystem::remove_all(config_.path);
    std::fflush(stdout);
  }

 private:
  void open(bool fresh) {
    if (engine_ != nullptr) {
      engine_.reset();
      // Hand the closed database's freed memory (block cache, memtables) back to the OS, the
      // same for every engine, so that a fresh fill's peak RSS is its own and not what glibc
      // kept of the previous workloads.
      ::malloc_trim(0);
    }
    if (fresh) std::filesystem::remove_all(config_.path);
    std::filesystem::create_directories(flags_.db);
    auto engine = make_engine(engine_name_, config_);
    if (!engine.ok()) die(engine_name_, "open", engine.status());
    engine_ = std::move(engine).value();
  }

  void run(const std::string& name, size_t index) {
    uint64_t seed = flags_.seed + 1000 * index;
    uint64_t sync_every = 0;
    bool fillsync = parse_fillsync(name, &sync_every);
    if (name == "fillseq" || name == "fillrandom" || fillsync) open(true);
    if (name == "readrandom") {
      // Untimed: reads measure a settled tree, not the compaction state the fill left.
      Status s = engine_->compact_all();
      if (!s.ok()) die(engine_name_, "compact", s);
    }
    (void)engine_->activity();  // what the fill left behind is not this workload's
    reset_peak_rss();
    auto start = std::chrono::steady_clock::now();
    Outcome out;
    if (name == "fillseq") {
      out = fill(seed, false, 0);
    } else if (name == "fillrandom" || name == "overwrite") {
      out = fill(seed, true, 0);
    } else if (fillsync) {
      out = fill(seed, true, sync_every);
    } else if (name == "readrandom") {
      out = read_random(seed);
    } else if (name == "seekrandom") {
      out = seek_random(seed);
    } else {
      out = read_seq();
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report(name, out, seconds, read_status_kb("VmHWM"));
  }

  Outcome fill(uint64_t seed, bool random, uint64_t sync_every) {
    Random rnd(seed);
    ValueGenerator values(flags_.value_size, flags_.compression_ratio, seed);
    KeyFormatter keys(flags_.key_size);
    Outcome out;
    for (uint64_t i = 0; i < flags_.num; ++i) {
      std::string_view key = keys.make(random ? rnd.uniform(flags_.num) : i);
      bool sync = sync_every != 0 && (i + 1) % sync_every == 0;
      Status s = engine_->put(key, values.next(), sync);
      if (!s.ok()) die(engine_name_, "put", s);
      out.bytes += key.size() + flags_.value_size;
    }
    out.ops = flags_.num;
    return out;
  }

  Outcome read_random(uint64_t seed) {
    Random rnd(seed);
    KeyFormatter keys(flags_.key_size);
    std::string value;
    Outcome out;
    for (uint64_t i = 0; i < flags_.reads; ++i) {
      bool found = false;
      Status s = engine_->get(keys.make(rnd.uniform(flags_.num)), &value, &found);
      if (!s.ok()) die(engine_name_, "get", s);
      if (found) {
        ++out.found;
        out.bytes += flags_.key_size + value.size();
      }
    }
    out.ops = out.expected = flags_.reads;
    return out;
  }

  Outcome seek_random(uint64_t seed) {
    Random rnd(seed);
    KeyFormatter keys(flags_.key_size);
    Outcome out;
    for (uint64_t i = 0; i < flags_.reads; ++i) {
      // A new iterator per seek, as LevelDB's db_bench does (and as a range read would).
      std::unique_ptr<BenchIterator> it = engine_->new_iterator();
      it->seek(keys.make(rnd.uniform(flags_.num)));
      if (it->valid()) ++out.found;
      for (uint64_t n = 0; n <= flags_.seek_nexts && it->valid(); ++n) {
        out.bytes += it->key().size() + it->value().size();
        if (n < flags_.seek_nexts) it->next();
      }
      if (!it->status().ok()) die(engine_name_, "seek", it->status());
    }
    out.ops = out.expected = flags_.reads;
    return out;
  }

  Outcome read_seq() {
    std::unique_ptr<BenchIterator> it = engine_->new_iterator();
    Outcome out;
    for (it->seek_to_first(); it->valid(); it->next()) {
      out.bytes += it->key().size() + it->value().size();
      ++out.ops;
    }
    if (!it->status().ok()) die(engine_name_, "readseq", it->status());
    return out;
  }

  void report(const std::string& name, const Outcome& out, double seconds, uint64_t peak_kb) {
    double ops = static_cast<double>(std::max<uint64_t>(out.ops, 1));
    double micros = seconds * 1e6 / ops;
    double ops_per_sec = ops / seconds;
    std::string extra;
    if (out.expected > 0) extra = fmt::format(" ({} of {} found)", out.found, out.expected);
    extra += engine_->activity();
    std::printf("engine=%s %s : %.3f micros/op %.0f ops/sec; %.1f MB/s; peak_rss %.1f MB%s\n",
                engine_name_.c_str(), name.c_str(), micros, ops_per_sec,
                static_cast<double>(out.bytes) / 1048576.0 / seconds,
                static_cast<double>(peak_kb) / 1024.0, extra.c_str());
    std::fflush(stdout);
    std::string line = fmt::format("{} {:.1f} {:.3f} {}\n", name, ops_per_sec, micros, peak_kb);
    (void)!::write(report_fd_, line.data(), line.size());
  }

  const Flags& flags_;
  std::string engine_name_;
  int report_fd_;
  EngineConfig config_;
  std::unique_ptr<BenchEngine> engine_;
};

struct Figures {
  double ops_per_sec = 0;
  uint64_t peak_kb = 0;
};
// engine -> workload -> figures
using Results = std::map<std::string, std::map<std::string, Figures>>;

// One engine's child process. Children run one at a time: the parent resumes (SIGCONT) the
// child whose turn it is and stops (SIGSTOP) it once it answered, so an engine's background
// flushes and compactions never run while another engine is being measured; they resume
// with their own engine and count in its figures, as if it ran alone.
struct Child {
  std::string engine;
  pid_t pid = -1;
  int command_fd = -1;
  int report_fd = -1;
  bool failed = false;
};

// `started`: the children forked before, whose pipe ends this one must not inherit (a
// command pipe would otherwise never reach end of file).
bool start_child(const Flags& flags, Child* child, const std::vector<Child>& started) {
  int commands[2], reports[2];
  if (::pipe(commands) != 0) return false;
  if (::pipe(reports) != 0) return false;
  std::fflush(stdout);
  child->pid = ::fork();
  if (child->pid < 0) return false;
  if (child->pid == 0) {
    for (const Child& other : started) {
      if (other.pid > 0) {
        ::close(other.command_fd);
        ::close(other.report_fd);
      }
    }
    ::close(commands[1]);
    ::close(reports[0]);
    Runner(flags, child->engine, reports[1]).serve(commands[0]);
    std::_Exit(0);
  }
  ::close(commands[0]);
  ::close(reports[1]);
  child->command_fd = commands[1];
  child->report_fd = reports[0];
  ::kill(child->pid, SIGSTOP);
  return true;
}

// Runs one workload in the child and records its figures; false when the child failed.
bool run_in_child(Child* child, const std::string& workload, Results* results) {
  ::kill(child->pid, SIGCONT);
  std::string command = workload + "\n";
  bool ok = ::write(child->command_fd, command.data(), command.size()) ==
            static_cast<ssize_t>(command.size());
  std::string line;
  ok = ok && read_line(child->report_fd, &line);
  ::kill(child->pid, SIGSTOP);
  char name[64];
  double ops = 0, micros = 0;
  unsigned long long kb = 0;
  if (ok && std::sscanf(line.c_str(), "%63s %lf %lf %llu", name, &ops, &micros, &kb) == 4) {
    (*results)[child->engine][name] = {ops, kb};
    return true;
  }
  child->failed = true;
  return false;
}

// Ends the child (after its last workload, it closes its database); false if it failed.
bool finish_child(Child* child) {
  ::close(child->command_fd);
  if (child->failed) ::kill(child->pid, SIGKILL);
  ::kill(child->pid, SIGCONT);
  int status = 0;
  ::waitpid(child->pid, &status, 0);
  ::close(child->report_fd);
  if (child->failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "db_bench: engine=%s failed (wait status %d)\n", child->engine.c_str(),
                 status);
    return false;
  }
  return true;
}

void print_summary(const Flags& flags, const Results& results) {
  auto has = [&](const std::string& e) { return results.count(e) > 0; };
  std::printf("\nsummary (ops/sec; ratio = weaseldb / peer; targets: >= 1.0x rocksdb, >= 1.5x "
              "leveldb)\n");
  for (const std::string& w : flags.benchmarks) {
    std::string line = fmt::format("{:<14}", w);
    std::string result = fmt::format("RESULT db_bench workload={}", w);
    for (const auto& [engine, figures] : results) {
      auto f = figures.find(w);
      if (f == figures.end()) continue;
      line += fmt::format(" {}={:.0f}", engine, f->second.ops_per_sec);
      result += fmt::format(" {}={:.1f}", engine, f->second.ops_per_sec);
    }
    if (has("weaseldb")) {
      for (auto [peer, target] : {std::pair{"rocksdb", 1.0}, std::pair{"leveldb", 1.5}}) {
        if (!has(peer) || !results.at(peer).count(w) || !results.at("weaseldb").count(w)) continue;
        double ratio = results.at("weaseldb").at(w).ops_per_sec / results.at(peer).at(w).ops_per_sec;
        line += fmt::format("  vs {} {:.2f}x{}", peer, ratio, ratio >= target ? "" : " (below target)");
        result += fmt::format(" ratio_{}={:.3f}", peer, ratio);
      }
    }
    std::printf("%s\n%s\n", line.c_str(), result.c_str());
  }
  std::string line = "peak_rss_mb   ";
  std::string result = "RESULT db_bench workload=peak_rss_mb";
  for (const auto& [engine, figures] : results) {
    uint64_t peak = 0;
    for (const auto& [w, f] : figures) peak = std::max(peak, f.peak_kb);
    line += fmt::format(" {}={:.1f}", engine, static_cast<double>(peak) / 1024.0);
    result += fmt::format(" {}={:.1f}", engine, static_cast<double>(peak) / 1024.0);
  }
  std::printf("%s  (each engine's VmHWM, its own process)\n%s\n", line.c_str(), result.c_str());
}

}  // namespace

}  // namespace weasel::bench

int main(int argc, char** argv) {
  using namespace weasel::bench;
  bool help = false;
  auto flags = parse_flags(argc, argv, &help);
  if (help) {
    std::fputs(usage(), stdout);
    return 0;
  }
  if (!flags.ok()) {
    std::fprintf(stderr, "db_bench: %s\n", flags.status().message().c_str());
    return 2;
  }
  const Flags& f = flags.value();
  std::printf("db_bench: keys %zu bytes, values %zu bytes (compressible to %.2f), num %llu, "
              "reads %llu, WAL without sync\n",
              f.key_size, f.value_size, f.compression_ratio,
              static_cast<unsigned long long>(f.num), static_cast<unsigned long long>(f.reads));
  std::vector<Child> children(f.engines.size());
  bool ok = true;
  for (size_t i = 0; i < children.size(); ++i) {
    children[i].engine = f.engines[i];
    if (!start_child(f, &children[i], children)) {
      std::perror("db_bench: fork");
      return 1;
    }
  }
  // Workload by workload, engine after engine: noise from the machine hits all alike.
  Results results;
  for (const std::string& workload : f.benchmarks) {
    for (Child& child : children) {
      if (!child.failed) ok = run_in_child(&child, workload, &results) && ok;
    }
  }
  for (Child& child : children) ok = finish_child(&child) && ok;
  print_summary(f, results);
  return ok ? 0 : 1;
}
