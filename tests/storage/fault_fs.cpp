#include "fault_fs.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/assert.hpp"

namespace weaseldb::storage::test {

namespace {

using Inode = FaultFileSystem::Inode;

Status crashed_status(const std::string& what) {
  return Status::io_error("simulated crash: " + what);
}

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(std::shared_ptr<FaultFileSystem> fs, std::string path,
                    std::shared_ptr<Inode> inode)
      : fs_(std::move(fs)), path_(std::move(path)), inode_(std::move(inode)) {}

  Status append(std::string_view bytes) override {
    std::lock_guard lock(fs_->mu());
    Status s = fs_->begin_mutation("append " + path_);
    if (!s.ok()) return s;
    if (std::optional<Status> failure = fs_->injected(FaultFileSystem::Op::kWrite, path_)) {
      // A short write: part of the bytes made it before the error.
      size_t written = fs_->rng()() % (bytes.size() + 1);
      inode_->data.append(bytes.substr(0, written));
      size_ += written;
      return *failure;
    }
    inode_->data.append(bytes);
    size_ += bytes.size();
    return {};
  }
  Status flush() override {
    std::lock_guard lock(fs_->mu());
    return fs_->begin_mutation("flush " + path_);
  }
  Status sync() override {
    std::lock_guard lock(fs_->mu());
    Status s = fs_->begin_mutation("sync " + path_);
    if (!s.ok()) return s;
    if (std::optional<Status> failure = fs_->injected(FaultFileSystem::Op::kSync, path_)) {
      return *failure;
    }
    inode_->durable = inode_->data;
    return {};
  }
  Status close() override { return {}; }
  uint64_t size() const override { return size_; }

 private:
  std::shared_ptr<FaultFileSystem> fs_;
  std::string path_;
  std::shared_ptr<Inode> inode_;
  uint64_t size_ = 0;
};

class FaultSequentialFile final : public SequentialFile {
 public:
  FaultSequentialFile(std::shared_ptr<FaultFileSystem> fs, std::shared_ptr<Inode> inode)
      : fs_(std::move(fs)), inode_(std::move(inode)) {}

  Result<std::string_view> read(size_t n, char* scratch) override {
    std::lock_guard lock(fs_->mu());
    if (fs_->crashed()) return crashed_status("read");
    size_t got = std::min(n, inode_->data.size() - std::min(position_, inode_->data.size()));
    std::memcpy(scratch, inode_->data.data() + position_, got);
    position_ += got;
    return std::string_view(scratch, got);
  }

 private:
  std::shared_ptr<FaultFileSystem> fs_;
  std::shared_ptr<Inode> inode_;
  size_t position_ = 0;
};

class FaultRandomAccessFile final : public RandomAccessFile {
 public:
  FaultRandomAccessFile(std::shared_ptr<FaultFileSystem> fs, std::shared_ptr<Inode> inode,
                        uint64_t size)
      : fs_(std::move(fs)), inode_(std::move(inode)), size_(size) {}

  Result<std::string_view> read(uint64_t offset, size_t n, char* scratch) const override {
    std::lock_guard lock(fs_->mu());
    if (fs_->crashed()) return crashed_status("read");
    if (offset > size_ || n > size_ - offset || offset + n > inode_->data.size()) {
      return Status::corruption("read past the end of the file");
    }
    std::memcpy(scratch, inode_->data.data() + offset, n);
    return std::string_view(scratch, n);
  }
  uint64_t size() const override { return size_; }

 private:
  std::shared_ptr<FaultFileSystem> fs_;
  std::shared_ptr<Inode> inode_;
  uint64_t size_;
};

}  // namespace

class FaultLock final : public FileLock {
 public:
  FaultLock(std::shared_ptr<FaultFileSystem> fs, std::string path)
      : fs_(std::move(fs)), path_(std::move(path)) {}
  ~FaultLock() override {
    std::lock_guard lock(fs_->mu_);
    fs_->locks_.erase(path_);
  }

 private:
  std::shared_ptr<FaultFileSystem> fs_;
  std::string path_;
};

std::pair<std::string, std::string> FaultFileSystem::split(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

FaultFileSystem::Dir* FaultFileSystem::find_dir(const std::string& dir) {
  auto found = dirs_.find(dir);
  return found == dirs_.end() ? nullptr : &found->second;
}

std::shared_ptr<Inode> FaultFileSystem::find_file(const std::string& path) {
  auto [dir, name] = split(path);
  Dir* d = find_dir(dir);
  if (d == nullptr) return nullptr;
  auto found = d->live.find(name);
  return found == d->live.end() ? nullptr : found->second;
}

Status FaultFileSystem::begin_mutation(const std::string& what) {
  if (dead_) return crashed_status(what);
  ++mutating_ops_;
  if (crash_countdown_) {
    if (*crash_countdown_ == 0) {
      die(crash_seed_, crash_torn_);
      return crashed_status(what);
    }
    --*crash_countdown_;
  }
  return {};
}

std::optional<Status> FaultFileSystem::injected(Op op, const std::string& path) {
  if (!injection_ || injection_->op != op) return std::nullopt;
  if (!path.ends_with(injection_->suffix)) return std::nullopt;
  if (injection_->countdown > 0) {
    --injection_->countdown;
    return std::nullopt;
  }
  ++failures_;
  const char* what = op == Op::kWrite ? "write" : "sync";
  Status s = injection_->code == StatusCode::kResourceExhausted
                 ? Status::resource_exhausted(std::string("injected ") + what + " " + path +
                                              ": No space left on device")
                 : Status::io_error(std::string("injected ") + what + " " + path +
                                    ": Input/output error");
  if (!injection_->sticky) injection_.reset();
  return s;
}

void FaultFileSystem::crash_after(uint64_t n, uint64_t seed, bool torn) {
  std::lock_guard lock(mu_);
  crash_countdown_ = n;
  crash_seed_ = seed;
  crash_torn_ = torn;
}

void FaultFileSystem::crash_now(uint64_t seed, bool torn) {
  std::lock_guard lock(mu_);
  if (!dead_) die(seed, torn);
}

bool FaultFileSystem::crashed() const { return dead_; }

std::shared_ptr<FaultFileSystem> FaultFileSystem::crash_image() const {
  std::lock_guard lock(mu_);
  WEASEL_ASSERT(dead_ && image_ != nullptr);
  return image_;
}

void FaultFileSystem::die(uint64_t seed, bool torn) {
  image_ = make_image(seed, torn);
  dead_ = true;
}

std::shared_ptr<FaultFileSystem> FaultFileSystem::make_image(uint64_t seed, bool torn) const {
  std::mt19937_64 rng(seed);
  auto image = std::make_shared<FaultFileSystem>();
  std::map<const Inode*, std::shared_ptr<Inode>> copied;  // a renamed file is one inode
  for (const auto& [path, dir] : dirs_) {
    Dir& out = image->dirs_[path];
    for (const auto& [name, inode] : dir.durable) {
      std::shared_ptr<Inode>& copy = copied[inode.get()];
      if (copy == nullptr) {
        copy = std::make_shared<Inode>();
        copy->data = inode->durable;
        bool appended = inode->data.size() > inode->durable.size() &&
                        inode->data.compare(0, inode->durable.size(), inode->durable) == 0;
        if (torn && appended && rng() % 2 == 0) {
          size_t unsynced = inode->data.size() - inode->durable.size();
          copy->data.append(inode->data, inode->durable.size(), rng() % (unsynced + 1));
        }
        copy->durable = copy->data;
      }
      out.live[name] = copy;
    }
    out.durable = out.live;
  }
  return image;
}

void FaultFileSystem::fail_after(Op op, uint64_t n, StatusCode code, bool sticky,
                                 std::string suffix) {
  WEASEL_ASSERT(code == StatusCode::kIoError || code == StatusCode::kResourceExhausted);
  std::lock_guard lock(mu_);
  injection_ = Injection{op, n, code, sticky, std::move(suffix)};
}

void FaultFileSystem::hold_creates(std::string suffix) {
  std::lock_guard lock(mu_);
  held_suffix_ = std::move(suffix);
}

void FaultFileSystem::release_creates() {
  std::lock_guard lock(mu_);
  held_suffix_.reset();
  released_.notify_all();
}

void FaultFileSystem::heal() {
  std::lock_guard lock(mu_);
  injection_.reset();
}

uint64_t FaultFileSystem::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

uint64_t FaultFileSystem::held_creates() const {
  std::lock_guard lock(mu_);
  return held_creates_;
}

uint64_t FaultFileSystem::mutating_ops() const {
  std::lock_guard lock(mu_);
  return mutating_ops_;
}

Result<std::unique_ptr<WritableFile>> FaultFileSystem::new_writable_file(
    const std::string& path) {
  std::unique_lock lock(mu_);
  auto released = [&] { return !held_suffix_ || !path.ends_with(*held_suffix_); };
  if (!released()) {
    ++held_creates_;
    released_.wait(lock, released);
    --held_creates_;
  }
  Status s = begin_mutation("create " + path);
  if (!s.ok()) return s;
  auto [dir, name] = split(path);
  Dir* d = find_dir(dir);
  if (d == nullptr) return errno_status(ENOENT, "open", path);
  std::shared_ptr<Inode>& inode = d->live[name];
  if (inode == nullptr) {
    inode = std::make_shared<Inode>();
  } else {
    inode->data.clear();  // O_TRUNC: the same inode, emptied
  }
  return std::unique_ptr<WritableFile>(
      new FaultWritableFile(shared_from_this(), path, inode));
}

Result<std::unique_ptr<SequentialFile>> FaultFileSystem::new_sequential_file(
    const std::string& path) {
  std::lock_guard lock(mu_);
  if (dead_) return crashed_status("open " + path);
  std::shared_ptr<Inode> inode = find_file(path);
  if (inode == nullptr) return errno_status(ENOENT, "open", path);
  return std::unique_ptr<SequentialFile>(new FaultSequentialFile(shared_from_this(), inode));
}

Result<std::unique_ptr<RandomAccessFile>> FaultFileSystem::new_random_access_file(
    const std::string& path) {
  std::lock_guard lock(mu_);
  if (dead_) return crashed_status("open " + path);
  std::shared_ptr<Inode> inode = find_file(path);
  if (inode == nullptr) return errno_status(ENOENT, "open", path);
  return std::unique_ptr<RandomAccessFile>(
      new FaultRandomAccessFile(shared_from_this(), inode, inode->data.size()));
}

Status FaultFileSystem::create_dir_if_missing(const std::string& path) {
  std::lock_guard lock(mu_);
  if (dead_) return crashed_status("mkdir " + path);
  dirs_.try_emplace(path);
  return {};
}

Status FaultFileSystem::sync_dir(const std::string& path) {
  std::lock_guard lock(mu_);
  Status s = begin_mutation("sync_dir " + path);
  if (!s.ok()) return s;
  Dir* d = find_dir(path);
  if (d == nullptr) return errno_status(ENOENT, "open", path);
  if (std::optional<Status> failure = injected(Op::kSync, path)) return *failure;
  d->durable = d->live;
  return {};
}

Status FaultFileSystem::rename_file(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  Status s = begin_mutation("rename " + from);
  if (!s.ok()) return s;
  auto [from_dir, from_name] = split(from);
  auto [to_dir, to_name] = split(to);
  Dir* src = find_dir(from_dir);
  Dir* dst = find_dir(to_dir);
  if (src == nullptr || dst == nullptr || src->live.count(from_name) == 0) {
    return errno_status(ENOENT, "rename", from);
  }
  std::shared_ptr<Inode> inode = src->live[from_name];
  src->live.erase(from_name);
  dst->live[to_name] = std::move(inode);
  return {};
}

Status FaultFileSystem::remove_file(const std::string& path) {
  std::lock_guard lock(mu_);
  Status s = begin_mutation("unlink " + path);
  if (!s.ok()) return s;
  auto [dir, name] = split(path);
  Dir* d = find_dir(dir);
  if (d == nullptr || d->live.erase(name) == 0) return errno_status(ENOENT, "unlink", path);
  return {};
}

Result<bool> FaultFileSystem::file_exists(const std::string& path) {
  std::lock_guard lock(mu_);
  if (dead_) return crashed_status("stat " + path);
  return dirs_.count(path) > 0 || find_file(path) != nullptr;
}

Result<std::vector<std::string>> FaultFileSystem::list_dir(const std::string& path) {
  std::lock_guard lock(mu_);
  if (dead_) return crashed_status("opendir " + path);
  Dir* d = find_dir(path);
  if (d == nullptr) return errno_status(ENOENT, "opendir", path);
  std::vector<std::string> names;
  for (const auto& entry : d->live) names.push_back(entry.first);
  return names;
}

Result<std::unique_ptr<FileLock>> FaultFileSystem::lock_file(const std::string& path) {
  std::lock_guard lock(mu_);
  if (dead_) return crashed_status("lock " + path);
  auto [dir, name] = split(path);
  Dir* d = find_dir(dir);
  if (d == nullptr) return errno_status(ENOENT, "open", path);
  if (d->live.count(name) == 0) d->live[name] = std::make_shared<Inode>();
  if (!locks_.insert(path).second) return Status::busy(path + " is locked by another process");
  return std::unique_ptr<FileLock>(new FaultLock(shared_from_this(), path));
}

}  // namespace weaseldb::storage::test
