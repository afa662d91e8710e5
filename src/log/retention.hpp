#pragma once
// Retention policies (SPEC section 3, /v1/retention/) and the job that truncates the log below
// them. Knows nothing of HTTP or JSON: the api layer parses bodies and writes answers.
//
// Model
// - A policy pins part of the log. Its floor_version F means "read_after(F) must keep
//   working", i.e. every transaction after F stays:
//     after_version V  -> F = V                       (a consumer's cursor)
//     keep_versions N  -> F = latest_version - N      (0 while the log is shorter)
//     keep_seconds S   -> F = log.floor_for_time(now - S): segment granularity
//   The overall floor is the lowest floor of all policies; with no policy at all it is the
//   floor of keep_seconds = default_keep_seconds. The job calls log.truncate_before(floor + 1),
//   which drops whole segments only, so the log's oldest_version() never passes any floor.
// - Policies are stored durably in the LogStore metadata map under "retention/<id>" (value:
//   the text "v1 <field> <value> <created_at_ms> <updated_at_ms>"), loaded by open(), so they
//   survive restarts. The in-memory map changes only after the metadata write succeeded: a
//   failed write (disk full) changes nothing and returns the store's error.
//
// Contract
// - put(): creates or replaces a policy. invalid_argument: a bad id or value, or a new policy
//   beyond max_policies (the message names `policy_id` or the field). log_truncated: an
//   after_version below pinnable_oldest_version() (history that is gone, or that a truncation
//   already under way removes); PutResult::oldest_version says the lowest value accepted now.
//   keep_seconds/keep_versions are always accepted: they keep what exists and their floor
//   rises by itself. Metadata errors pass through (io_error, resource_exhausted, unavailable;
//   the store's own limits on the metadata map come back as resource_exhausted).
// - remove(): not_found for an unknown id. Every successful put and remove wakes the job at
//   once, since the floor may have risen.
// - truncate_now(): one pass on the calling thread (floor, then truncate_before); runs are
//   serialized. The background thread (start()) runs it every truncate_interval_seconds,
//   once at start, and when woken. stop() is prompt (a condition variable) and idempotent;
//   the destructor stops. The manager must be stopped before the LogStore goes away.
//
// Thread-safety: every public member may be called from any thread. put/get/remove/list take
// a short mutex and (put/remove) one metadata write; they never wait for a truncation pass
// (the pass holds the mutex only while it computes the floor).
//
// Ownership: the LogStore is borrowed and must outlive the manager; callbacks in the options
// are owned.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.hpp"
#include "log/log_store.hpp"

namespace weasel {

enum class RetentionKind : uint8_t { kAfterVersion, kKeepSeconds, kKeepVersions };

inline constexpr std::string_view kRetentionMetadataPrefix = "retention/";
inline constexpr size_t kMaxPolicyIdBytes = 128;
// Values are JSON numbers that clients must read exactly (SPEC 2: versions stay below 2^53).
inline constexpr uint64_t kMaxRetentionVersion = (uint64_t{1} << 53) - 1;
inline constexpr uint64_t kMaxKeepSeconds = uint64_t{100} * 366 * 86400;  // a century

// "after_version", "keep_seconds" or "keep_versions": the JSON field of the policy body.
std::string_view retention_field_name(RetentionKind kind);
std::optional<RetentionKind> retention_kind_from_field(std::string_view field);
// Empty when acceptable, else the problem (without the field name).
std::string check_policy_id(std::string_view id);
std::string check_policy_value(RetentionKind kind, uint64_t value);

struct RetentionPolicy {
  std::string id;
  RetentionKind kind = RetentionKind::kAfterVersion;
  uint64_t value = 0;
  int64_t created_at_ms = 0;  // Unix epoch milliseconds
  int64_t updated_at_ms = 0;
  uint64_t floor_version = 0;  // computed when the policy is read, not stored
};

struct RetentionOptions {
  int64_t default_keep_seconds = 86400;
  int truncate_interval_seconds = 60;
  size_t max_policies = 1000;
  // Wall clock in Unix epoch milliseconds; empty: the system clock. Tests pass a fixed one.
  std::function<int64_t()> now_ms;
  // Called after every successful truncation pass with the bytes it deleted (0 included), on
  // the thread that ran it: the metrics hook (log does not depend on metrics).
  std::function<void(uint64_t deleted_bytes)> on_truncated;
};

struct RetentionPutResult {
  Status status;
  bool created = false;         // ok: 201 rather than 200
  RetentionPolicy policy;       // ok: as stored, with its floor
  uint64_t oldest_version = 0;  // log_truncated: the lowest after_version accepted now
};

struct RetentionSnapshot {
  std::vector<RetentionPolicy> policies;  // by id
  uint64_t oldest_version = 0;
  uint64_t latest_version = 0;
};

class RetentionManager {
 public:
  // Loads the stored policies; corruption when one cannot be read back.
  static Result<std::unique_ptr<RetentionManager>> open(LogStore& log, RetentionOptions options);

  RetentionManager(const RetentionManager&) = delete;
  RetentionManager& operator=(const RetentionManager&) = delete;
  ~RetentionManager();

  void start();
  void stop();

  RetentionPutResult put(std::string_view id, RetentionKind kind, uint64_t value);
  std::optional<RetentionPolicy> get(std::string_view id) const;
  Status remove(std::string_view id);
  RetentionSnapshot list() const;

  // The floor the next pass truncates to.
  uint64_t floor_version() const;
  // The lowest after_version put() accepts now.
  uint64_t pinnable_oldest_version() const;
  // One pass now; returns the bytes deleted.
  Result<uint64_t> truncate_now();

 private:
  RetentionManager(LogStore& log, RetentionOptions options);

  int64_t now_ms() const;
  uint64_t floor_of_locked(RetentionKind kind, uint64_t value, int64_t now_ms) const;
  uint64_t floor_locked(int64_t now_ms) const;
  uint64_t pinnable_oldest_locked() const;
  RetentionPolicy with_floor_locked(const RetentionPolicy& policy, int64_t now_ms) const;
  void wake();
  void run();

  LogStore& log_;
  const RetentionOptions options_;

  mutable std::mutex mutex_;  // guards policies_ and truncating_to_
  std::map<std::string, RetentionPolicy, std::less<>> policies_;
  // The floor of the pass under way: history up to it may be gone any moment, so put()
  // refuses to pin below it.
  std::optional<uint64_t> truncating_to_;

  std::mutex pass_mutex_;  // one pass at a time; never taken by put/get/remove/list

  std::mutex thread_mutex_;  // guards the fields below
  std::condition_variable wake_cv_;
  bool woken_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace weasel
