#pragma once
// FaultFileSystem: an in-memory FileSystem (Options::file_system) for tests, which can fail
// writes and syncs on demand and simulate a machine crash.
//
// Contract
// - Files and directories live in memory. Each file remembers the bytes its last sync()
//   made durable; each directory remembers the entries its last sync_dir() made durable
//   (creations, renames and removals since then are not). Directories themselves are
//   durable once created (the engine never removes one).
// - crash_after(n, seed): the n-th mutating operation from now (append, flush, sync, create,
//   rename, remove, sync_dir; 0 = the next one) does not happen: instead the file system
//   takes a crash image and dies, so that this and every later operation fails with
//   io_error, as if the machine had lost power just then. crash_now() does the same at once.
//   crash_image() is then a fresh file system holding what a machine crash leaves: every
//   directory as of its last sync_dir(), every file as of its last sync(), except that with
//   `torn` some files also keep a random prefix of their unsynced tail (the kernel wrote
//   back part of it).
// - fail_after(op, n, code, sticky): the n-th append (kWrite) or sync (kSync) from now fails
//   with `code` (io_error or resource_exhausted, the codes the engine maps errno to); a failed
//   append writes a random part of its bytes first, like a short write. Sticky: every later
//   one fails too (a full disk). heal() ends the injection. With a `suffix`, only appends or
//   syncs of files whose path ends with it count (a table's sync, whatever the WAL's and the
//   directory's syncs do meanwhile on other threads).
// - hold_creates(suffix): creating a file whose name ends with `suffix` blocks until
//   release_creates() (a flush or compaction stuck on a slow disk, for stall tests);
//   held_creates() says how many creations are blocked right now.
// - Thread-safe: one mutex guards everything.
//
// Ownership: shared (shared_ptr): open files keep the file system's state alive.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "storage/file.hpp"

namespace weaseldb::storage::test {

class FaultFileSystem final : public FileSystem,
                              public std::enable_shared_from_this<FaultFileSystem> {
 public:
  enum class Op { kWrite, kSync };

  FaultFileSystem() = default;

  void crash_after(uint64_t n, uint64_t seed, bool torn);
  void crash_now(uint64_t seed, bool torn);
  bool crashed() const;
  std::shared_ptr<FaultFileSystem> crash_image() const;

  void hold_creates(std::string suffix);
  void release_creates();
  uint64_t held_creates() const;

  void fail_after(Op op, uint64_t n, StatusCode code, bool sticky, std::string suffix = {});
  void heal();
  // Injected failures so far.
  uint64_t failures() const;
  // Mutating operations so far (what crash_after counts).
  uint64_t mutating_ops() const;

  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override;
  Result<std::unique_ptr<SequentialFile>> new_sequential_file(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> new_random_access_file(
      const std::string& path) override;
  Status create_dir_if_missing(const std::string& path) override;
  Status sync_dir(const std::string& path) override;
  Status rename_file(const std::string& from, const std::string& to) override;
  Status remove_file(const std::string& path) override;
  Result<bool> file_exists(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override;

  // For the file classes (fault_fs.cpp).
  struct Inode {
    std::string data;
    std::string durable;  // as of the last sync()
  };
  struct Dir {
    std::map<std::string, std::shared_ptr<Inode>> live;
    std::map<std::string, std::shared_ptr<Inode>> durable;  // as of the last sync_dir()
  };
  // With mu_ held: whether a mutating operation may go ahead (counts it; may crash).
  Status begin_mutation(const std::string& what);
  // With mu_ held: an injected failure for this append or sync, if one is due.
  std::optional<Status> injected(Op op, const std::string& path);
  std::mt19937_64& rng() { return rng_; }
  std::mutex& mu() const { return mu_; }

 private:
  struct Injection {
    Op op;
    uint64_t countdown;
    StatusCode code;
    bool sticky;
    std::string suffix;  // empty: every file
  };
  static std::pair<std::string, std::string> split(const std::string& path);
  Dir* find_dir(const std::string& dir);
  std::shared_ptr<Inode> find_file(const std::string& path);
  std::shared_ptr<FaultFileSystem> make_image(uint64_t seed, bool torn) const;
  void die(uint64_t seed, bool torn);

  mutable std::mutex mu_;
  std::map<std::string, Dir> dirs_;
  std::set<std::string> locks_;
  std::mt19937_64 rng_{1};
  uint64_t mutating_ops_ = 0;
  std::optional<uint64_t> crash_countdown_;
  uint64_t crash_seed_ = 0;
  bool crash_torn_ = false;
  std::atomic<bool> dead_{false};
  std::shared_ptr<FaultFileSystem> image_;
  std::optional<Injection> injection_;
  std::optional<std::string> held_suffix_;
  std::condition_variable released_;
  uint64_t held_creates_ = 0;
  uint64_t failures_ = 0;

  friend class FaultLock;
};

}  // namespace weaseldb::storage::test
