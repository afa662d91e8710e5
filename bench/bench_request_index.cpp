// bench_request_index: memory and time of the leader's request-id index (RequestIndex,
// src/commit/request_index.hpp) vs the obvious node-based version of the same contract
// (std::unordered_map + std::deque FIFO, what the index was before), side by side.
//
// Each variant runs in its own child process (so that one's freed memory cannot hide the
// other's): it adds 2 x --entries commits with 36-character ids (UUID-shaped) to an index
// limited to --entries, so that the second half runs in the steady state (one eviction per
// commit), then reports the resident memory the index added, the peak, and ns per add in the
// steady half.
//
// Run: ./scripts/build.sh release bench_request_index && build/release/bench_request_index
//      [--entries=1000000]

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <string>
#include <unordered_map>

#include <fmt/format.h>

#include "commit/request_index.hpp"

namespace weasel {
namespace {

// RequestIndex's committed ids as they were kept before (node-based map + FIFO of records
// for the version and age limits); the count limit is all this benchmark exercises.
class NodeIndex {
 public:
  explicit NodeIndex(size_t max_entries) : max_entries_(max_entries) {}
  void add_committed(std::string_view id, uint64_t version, int64_t timestamp_ms) {
    auto [it, inserted] = map_.emplace(std::string(id), version);
    if (!inserted) return;
    fifo_.push_back({it->first, version, timestamp_ms});
    while (fifo_.size() > max_entries_) {
      map_.erase(map_.find(fifo_.front().id));
      fifo_.pop_front();
    }
  }
  size_t committed_count() const { return map_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Added {
    std::string_view id;
    uint64_t version;
    int64_t timestamp_ms;
  };
  size_t max_entries_;
  std::unordered_map<std::string, uint64_t, Hash, std::equal_to<>> map_;
  std::deque<Added> fifo_;
};

long status_kb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  }
  return 0;
}

// Ids are formatted up front (outside the measured memory and time).
std::string uuid_like(uint64_t n) {
  return fmt::format("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", (n * 2654435761u) & 0xffffffff,
                     n & 0xffff, (n >> 16) & 0xfff, (n >> 28) & 0xfff, n);
}

template <class Index>
void run(const char* name, Index& index, size_t entries, const std::string* ids) {
  const long rss_before = status_kb("VmRSS:");
  for (size_t i = 0; i < entries; ++i) index.add_committed(ids[i], i + 1, 0);
  auto start = std::chrono::steady_clock::now();
  for (size_t i = entries; i < 2 * entries; ++i) index.add_committed(ids[i], i + 1, 0);
  auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
  const long rss_after = status_kb("VmRSS:");
  std::printf("variant=%s entries=%zu add_ns=%.1f rss_mb=%.1f peak_mb=%.1f\n", name,
              index.committed_count(), ns.count() / static_cast<double>(entries),
              static_cast<double>(rss_after - rss_before) / 1024.0,
              static_cast<double>(status_kb("VmHWM:") - rss_before) / 1024.0);
  std::fflush(stdout);
}

int child(bool node_based, size_t entries) {
  // Ids live in one block allocated before the measurement starts.
  auto* ids = new std::string[2 * entries];
  for (size_t i = 0; i < 2 * entries; ++i) ids[i] = uuid_like(i);
  // VmHWM counts from process start: reset it to the current RSS first.
  std::ofstream("/proc/self/clear_refs") << "5";
  if (node_based) {
    NodeIndex index(entries);
    run("node_maps", index, entries, ids);
  } else {
    RequestIndex index({.max_entries = entries}, 0);
    run("weaseldb", index, entries, ids);
  }
  return 0;
}

}  // namespace
}  // namespace weasel

int main(int argc, char** argv) {
  size_t entries = 1'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--entries=", 10) == 0) {
      entries = std::strtoull(argv[i] + 10, nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--entries=N]\n", argv[0]);
      return 2;
    }
  }
  if (entries == 0) {
    std::fprintf(stderr, "--entries must be at least 1\n");
    return 2;
  }
  for (bool node_based : {false, true}) {
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(weasel::child(node_based, entries));
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "variant %s failed\n", node_based ? "node_maps" : "weaseldb");
      return 1;
    }
  }
  return 0;
}
