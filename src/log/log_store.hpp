#pragma once
// LogStore: where encoded batches (log_format.hpp) become durable and are read back: the
// local disk (LocalLogStore) or, later, S3. The commit pipeline appends; subscription
// catch-up, status lookups and retention read and truncate. Knows nothing of HTTP or JSON.
//
// Contract
// - The log is one gap-free chain of batches: every appended batch's header prev_version
//   equals the last version appended before it (latest_version() on a fresh open), so a
//   reader can prove it missed nothing. Batches are immutable once appended.
// - append(): called from ONE thread (the persist stage), batches in version order. `done`
//   runs exactly once per append, in append order, after the batch is durable, or with the
//   error. `encoded_batch` must stay valid until `done` runs. Errors:
//     invalid_argument   not one valid batch, or its prev_version does not follow the log;
//                        nothing was written and the store stays healthy (a caller bug).
//     io_error, resource_exhausted (disk full)   the write or sync failed: the batch is NOT
//                        durable and the store enters the failed state.
//     unavailable        the store failed earlier; nothing is attempted.
//   Failed state: health() returns the first failure, every later append fails at once,
//   reads of what was durable keep working. Only reopening (a restart) leaves it.
//   Whether `done` runs inside append() or on another thread is the implementation's choice
//   and documented there.
// - read_after(after_version, max_bytes, fn): calls fn with every batch whose last_version
//   > after_version, in order, until roughly max_bytes were delivered (always at least one
//   batch when there is one, so a batch larger than max_bytes still gets through) or fn
//   returns false. The first batch may begin at or before after_version: the caller skips
//   transactions <= after_version. Returns the version to continue after (the last_version of
//   the last batch delivered, or after_version if none). after_version < oldest_version() is
//   log_truncated; after_version >= latest_version() delivers nothing. Bytes handed to fn are
//   valid during the call only and have been checksum-verified; a damaged batch is a
//   corruption error naming where it is. Safe from any number of threads, concurrently with
//   append and truncate_before.
// - truncate_before(version): drops history strictly older than `version` in whole storage
//   units (segments, objects) only: it never drops a transaction >= version, and keeps the
//   unit being appended to. Afterwards oldest_version() may have risen. Returns the bytes
//   of batches it deleted (0 when nothing was below `version`).
// - oldest_version(): the truncation floor. read_after(v) serves complete history for every
//   v >= oldest_version(); it is the prev_version of the oldest retained batch (0 for a
//   never-truncated log). It is a floor rather than "the oldest retained version" because
//   versions are not contiguous: any after_version between the floor and the first retained
//   version is still served without a gap.
// - latest_version(): the last durable version (oldest_version() when the log is empty).
//   bytes(): the size of the retained batches.
// - floor_for_time(since_ms): the time -> version mapping retention by age needs. A version F
//   with read_after(F) serving every retained transaction whose timestamp_ms >= since_ms:
//   the prev_version of the oldest storage unit (segment, object) holding such a transaction,
//   or latest_version() when none does. Coarse on purpose (whole units, which is all that
//   truncation can drop), and answered from memory.
// - Metadata: a small durable map (retention policies, ...), each put/delete atomic and
//   durable when it returns. Keys are 1..kMaxMetadataKeyBytes bytes, values up to
//   kMaxMetadataValueBytes, at most kMaxMetadataEntries entries and kMaxMetadataTotalBytes of
//   keys and values together (invalid_argument beyond).
//   Reads are served from memory and cannot fail. delete of an absent key is not_found.
//   Safe from any thread.
//
// Ownership: the store owns its files or objects; callers own their buffers and callbacks.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.hpp"

namespace weasel {

inline constexpr size_t kMaxMetadataKeyBytes = 1024;
inline constexpr size_t kMaxMetadataValueBytes = size_t{1} << 20;
inline constexpr size_t kMaxMetadataEntries = 100'000;
inline constexpr size_t kMaxMetadataTotalBytes = size_t{64} << 20;

class LogStore {
 public:
  using AppendCallback = std::function<void(const Status&)>;
  // Receives one encoded batch, borrowed for the call; returns false to stop reading.
  using BatchCallback = std::function<bool(std::string_view encoded_batch)>;
  using MetadataEntries = std::vector<std::pair<std::string, std::string>>;

  virtual ~LogStore() = default;

  virtual void append(std::string_view encoded_batch, AppendCallback done) = 0;
  virtual Result<uint64_t> read_after(uint64_t after_version, size_t max_bytes,
                                      const BatchCallback& fn) const = 0;
  virtual Result<uint64_t> truncate_before(uint64_t version) = 0;

  virtual uint64_t oldest_version() const = 0;
  virtual uint64_t latest_version() const = 0;
  virtual uint64_t bytes() const = 0;
  virtual uint64_t floor_for_time(int64_t since_ms) const = 0;
  // ok while the store can append; otherwise the failure that stopped it.
  virtual Status health() const = 0;
  bool healthy() const { return health().ok(); }

  virtual Status put_metadata(std::string_view key, std::string_view value) = 0;
  virtual std::optional<std::string> get_metadata(std::string_view key) const = 0;
  virtual Status delete_metadata(std::string_view key) = 0;
  // Every entry whose key starts with `prefix`, in key order.
  virtual MetadataEntries list_metadata(std::string_view prefix) const = 0;
};

}  // namespace weasel
