#include "log/retention.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "core/assert.hpp"

namespace weasel {
namespace {

constexpr std::string_view kValueFormatTag = "v1";

bool is_id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

std::string encode_policy(const RetentionPolicy& policy) {
  return fmt::format("{} {} {} {} {}", kValueFormatTag, retention_field_name(policy.kind),
                     policy.value, policy.created_at_ms, policy.updated_at_ms);
}

// Splits off the next space-separated word of `text`.
std::string_view next_word(std::string_view& text) {
  size_t end = text.find(' ');
  std::string_view word = text.substr(0, end);
  text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  return word;
}

template <typename T>
bool parse_number(std::string_view word, T& out) {
  if (word.empty()) return false;
  auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), out);
  return ec == std::errc() && ptr == word.data() + word.size();
}

// Reads back what encode_policy wrote; false on anything else.
bool decode_policy(std::string_view id, std::string_view text, RetentionPolicy& out) {
  if (next_word(text) != kValueFormatTag) return false;
  std::optional<RetentionKind> kind = retention_kind_from_field(next_word(text));
  if (!kind) return false;
  out.id = std::string(id);
  out.kind = *kind;
  return parse_number(next_word(text), out.value) &&
         parse_number(next_word(text), out.created_at_ms) &&
         parse_number(next_word(text), out.updated_at_ms) && text.empty() &&
         check_policy_value(out.kind, out.value).empty() && check_policy_id(id).empty();
}

std::string metadata_key(std::string_view id) {
  return fmt::format("{}{}", kRetentionMetadataPrefix, id);
}

}  // namespace

std::string_view retention_field_name(RetentionKind kind) {
  switch (kind) {
    case RetentionKind::kAfterVersion:
      return "after_version";
    case RetentionKind::kKeepSeconds:
      return "keep_seconds";
    case RetentionKind::kKeepVersions:
      return "keep_versions";
  }
  return "after_version";
}

std::optional<RetentionKind> retention_kind_from_field(std::string_view field) {
  if (field == "after_version") return RetentionKind::kAfterVersion;
  if (field == "keep_seconds") return RetentionKind::kKeepSeconds;
  if (field == "keep_versions") return RetentionKind::kKeepVersions;
  return std::nullopt;
}

std::string check_policy_id(std::string_view id) {
  if (id.empty()) return "must not be empty";
  if (id.size() > kMaxPolicyIdBytes) {
    return fmt::format("is {} characters long (allowed 1..{})", id.size(), kMaxPolicyIdBytes);
  }
  for (size_t i = 0; i < id.size(); ++i) {
    if (!is_id_char(id[i])) {
      return fmt::format("invalid character at offset {} (allowed [A-Za-z0-9._-])", i);
    }
  }
  return {};
}

std::string check_policy_value(RetentionKind kind, uint64_t value) {
  const uint64_t max = kind == RetentionKind::kKeepSeconds ? kMaxKeepSeconds : kMaxRetentionVersion;
  if (value > max) return fmt::format("{} is out of range (allowed 0..{})", value, max);
  return {};
}

// ---- lifecycle ----

Result<std::unique_ptr<RetentionManager>> RetentionManager::open(LogStore& log,
                                                                 RetentionOptions options) {
  if (options.default_keep_seconds < 0 ||
      static_cast<uint64_t>(options.default_keep_seconds) > kMaxKeepSeconds) {
    return Status::invalid_argument("default_keep_seconds out of range");
  }
  if (options.truncate_interval_seconds < 1 || options.max_policies < 1) {
    return Status::invalid_argument("truncate_interval_seconds and max_policies must be >= 1");
  }
  std::unique_ptr<RetentionManager> manager(new RetentionManager(log, std::move(options)));
  for (auto& [key, value] : log.list_metadata(kRetentionMetadataPrefix)) {
    std::string_view id = std::string_view(key).substr(kRetentionMetadataPrefix.size());
    RetentionPolicy policy;
    if (!decode_policy(id, value, policy)) {
      return Status::corruption(
          fmt::format("retention policy {} in the log's metadata cannot be read: \"{}\"", key, value));
    }
    manager->policies_.emplace(policy.id, std::move(policy));
  }
  spdlog::info("retention: {} policies, floor version {}", manager->policies_.size(),
               manager->floor_version());
  return manager;
}

RetentionManager::RetentionManager(LogStore& log, RetentionOptions options)
    : log_(log), options_(std::move(options)) {}

RetentionManager::~RetentionManager() { stop(); }

void RetentionManager::start() {
  std::lock_guard lock(thread_mutex_);
  WEASEL_ASSERT(!thread_.joinable() && !stopping_);
  thread_ = std::thread([this] { run(); });
}

void RetentionManager::stop() {
  {
    std::lock_guard lock(thread_mutex_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RetentionManager::wake() {
  {
    std::lock_guard lock(thread_mutex_);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

void RetentionManager::run() {
  const auto interval = std::chrono::seconds(options_.truncate_interval_seconds);
  std::unique_lock lock(thread_mutex_);
  while (!stopping_) {
    woken_ = false;
    lock.unlock();
    Result<uint64_t> deleted = truncate_now();
    if (!deleted.ok()) {
      // The next pass retries; appends are unaffected by a failed truncation.
      spdlog::warn("retention: truncation failed: {}", deleted.status().to_string());
    }
    lock.lock();
    wake_cv_.wait_for(lock, interval, [this] { return stopping_ || woken_; });
  }
}

// ---- floors ----

int64_t RetentionManager::now_ms() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t RetentionManager::floor_of_locked(RetentionKind kind, uint64_t value,
                                           int64_t now_ms) const {
  switch (kind) {
    case RetentionKind::kAfterVersion:
      return value;
    case RetentionKind::kKeepVersions: {
      const uint64_t latest = log_.latest_version();
      return latest > value ? latest - value : 0;
    }
    case RetentionKind::kKeepSeconds:
      // value <= kMaxKeepSeconds, so neither the product nor the difference overflows.
      return log_.floor_for_time(now_ms - static_cast<int64_t>(value) * 1000);
  }
  return 0;
}

uint64_t RetentionManager::floor_locked(int64_t now_ms) const {
  if (policies_.empty()) {
    return floor_of_locked(RetentionKind::kKeepSeconds,
                           static_cast<uint64_t>(options_.default_keep_seconds), now_ms);
  }
  uint64_t floor = UINT64_MAX;
  for (const auto& [id, policy] : policies_) {
    floor = std::min(floor, floor_of_locked(policy.kind, policy.value, now_ms));
  }
  return floor;
}

uint64_t RetentionManager::floor_version() const {
  std::lock_guard lock(mutex_);
  return floor_locked(now_ms());
}

uint64_t RetentionManager::pinnable_oldest_locked() const {
  const uint64_t oldest = log_.oldest_version();
  // A pass under way may raise the oldest version up to its floor any moment.
  return truncating_to_ ? std::max(oldest, *truncating_to_) : oldest;
}

uint64_t RetentionManager::pinnable_oldest_version() const {
  std::lock_guard lock(mutex_);
  return pinnable_oldest_locked();
}

RetentionPolicy RetentionManager::with_floor_locked(const RetentionPolicy& policy,
                                                    int64_t now_ms) const {
  RetentionPolicy out = policy;
  out.floor_version = floor_of_locked(policy.kind, policy.value, now_ms);
  return out;
}

// ---- policies ----

RetentionPutResult RetentionManager::put(std::string_view id, RetentionKind kind, uint64_t value) {
  RetentionPutResult result;
  if (std::string problem = check_policy_id(id); !problem.empty()) {
    result.status = Status::invalid_argument(fmt::format("policy_id: {}", problem));
    return result;
  }
  if (std::string problem = check_policy_value(kind, value); !problem.empty()) {
    result.status =
        Status::invalid_argument(fmt::format("{}: {}", retention_field_name(kind), problem));
    return result;
  }
  const int64_t now = now_ms();
  std::lock_guard lock(mutex_);
  auto it = policies_.find(id);
  if (it == policies_.end() && policies_.size() >= options_.max_policies) {
    result.status = Status::invalid_argument(
        fmt::format("policy_id: {} policies exist already (retention.max_policies = {})",
                    policies_.size(), options_.max_policies));
    return result;
  }
  if (kind == RetentionKind::kAfterVersion) {
    const uint64_t pinnable = pinnable_oldest_locked();
    if (value < pinnable) {
      result.status = Status::log_truncated(fmt::format(
          "after_version: {} is below the oldest retained version {}", value, pinnable));
      result.oldest_version = pinnable;
      return result;
    }
  }
  RetentionPolicy policy;
  policy.id = std::string(id);
  policy.kind = kind;
  policy.value = value;
  policy.created_at_ms = it == policies_.end() ? now : it->second.created_at_ms;
  policy.updated_at_ms = now;
  if (Status s = log_.put_metadata(metadata_key(id), encode_policy(policy)); !s.ok()) {
    // The store's invalid_argument is its own limit (metadata full), not a bad request.
    result.status = s.code() == StatusCode::kInvalidArgument
                        ? Status::resource_exhausted(s.message())
                        : s;
    return result;
  }
  result.created = it == policies_.end();
  result.policy = with_floor_locked(policy, now);
  policies_.insert_or_assign(policy.id, std::move(policy));
  // A replaced policy, or a first one taking over from the default, may raise the floor.
  wake();
  return result;
}

std::optional<RetentionPolicy> RetentionManager::get(std::string_view id) const {
  const int64_t now = now_ms();
  std::lock_guard lock(mutex_);
  auto it = policies_.find(id);
  if (it == policies_.end()) return std::nullopt;
  return with_floor_locked(it->second, now);
}

Status RetentionManager::remove(std::string_view id) {
  {
    std::lock_guard lock(mutex_);
    auto it = policies_.find(id);
    if (it == policies_.end()) {
      return Status::not_found(fmt::format("no retention policy \"{}\"", id));
    }
    if (Status s = log_.delete_metadata(metadata_key(id)); !s.ok()) return s;
    policies_.erase(it);
  }
  wake();
  return {};
}

RetentionSnapshot RetentionManager::list() const {
  const int64_t now = now_ms();
  RetentionSnapshot snapshot;
  std::lock_guard lock(mutex_);
  snapshot.policies.reserve(policies_.size());
  for (const auto& [id, policy] : policies_) {
    snapshot.policies.push_back(with_floor_locked(policy, now));
  }
  snapshot.oldest_version = log_.oldest_version();
  snapshot.latest_version = log_.latest_version();
  return snapshot;
}

// ---- truncation ----

Result<uint64_t> RetentionManager::truncate_now() {
  std::lock_guard pass(pass_mutex_);
  uint64_t floor;
  {
    std::lock_guard lock(mutex_);
    floor = floor_locked(now_ms());
    truncating_to_ = floor;
  }
  // Everything after the floor stays, so version floor itself may go: truncate_before keeps
  // versions >= its argument. The oldest version it leaves is therefore at most the floor.
  Result<uint64_t> deleted = log_.truncate_before(floor + 1);
  {
    std::lock_guard lock(mutex_);
    truncating_to_.reset();
  }
  if (!deleted.ok()) return deleted;
  if (deleted.value() > 0) {
    spdlog::info("retention: truncated the log below version {} ({} bytes); oldest version now {}",
                 floor, deleted.value(), log_.oldest_version());
  }
  if (options_.on_truncated) options_.on_truncated(deleted.value());
  return deleted;
}

}  // namespace weasel
