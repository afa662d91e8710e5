#pragma once
// Transactional workloads: one optimistic read-check plus one write per request, against
// WeaselDB (POST /v1/commit), etcd (its JSON gateway, POST /v3/kv/txn) and Redis (a
// compare-and-set Lua script over RESP), so that durable small commits compare on equal terms.
//
// Every request reads and writes one random key: a point_read precondition on K and a write
// of K (weasel), a compare on K's mod_revision and a put of K (etcd), a version check of K and
// a write of K (Redis). The check is "K was not written after the latest version this
// workload has seen" (the read version), taken from the answers. Keys are `key_bytes` bytes
// ('k' and a zero-padded decimal index below `keys`); a `hot_fraction` of requests picks one
// of the first `hot_keys` keys instead, to measure contention. Values are `value_bytes`
// random bytes.
//
// Contract: a workload instance belongs to one load thread (Workload contract). It owns its
// scratch buffers, sized at construction, so steady-state requests allocate nothing. The
// `stream` number (the thread index) makes every thread draw a different random sequence;
// the same options and stream always draw the same one. The builders append to a caller's
// string and are exposed for tests.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "load_tester/workload.hpp"

namespace weasel::load {

struct TxnOptions {
  uint64_t keys = 1'000'000;
  double hot_fraction = 0;  // 0..1: share of requests on the hot keys
  uint64_t hot_keys = 10;   // the first hot_keys keys of the key space
  uint32_t key_bytes = 16;
  uint32_t value_bytes = 100;
  uint64_t seed = 1;
};

// Empty when `options` can run; otherwise what is wrong, naming the option.
std::string validate_txn_options(const TxnOptions& options);

// Draws keys and values. Returned views stay valid until the next call of the same function.
class TxnGenerator {
 public:
  TxnGenerator(const TxnOptions& options, uint64_t stream);

  std::string_view next_key();
  std::string_view next_value();
  // The key of `index` (< keys): 'k' then the index in decimal, zero-padded to key_bytes.
  std::string_view key_of(uint64_t index);

 private:
  uint64_t next_random();
  uint64_t below(uint64_t bound);  // uniform in [0, bound)

  TxnOptions options_;
  uint64_t state_;
  std::string key_;
  std::string value_;
};

// The text after `"name":` (optional spaces, an optional quote: etcd quotes 64-bit integers)
// read as an unsigned integer; nullopt when absent or not a number. The first occurrence of
// the name wins; the bodies this reads have no string values that could contain it.
std::optional<uint64_t> find_json_uint(std::string_view json, std::string_view name);

// {"read_version":V,"preconditions":[{"type":"point_read","key":K}],
//  "operations":[{"type":"write","key":K,"value":VAL}]} with base64 key and value.
void append_weasel_commit_json(std::string& out, uint64_t read_version, std::string_view key,
                               std::string_view value);

// {"compare":[{"key":K,"target":"MOD","mod_revision":"R+1","result":"LESS"}],
//  "success":[{"request_put":{"key":K,"value":VAL}}]}: K unmodified after revision R.
void append_etcd_txn_json(std::string& out, uint64_t revision, std::string_view key,
                          std::string_view value);

// The Lua script of redis-cas. KEYS[1] is the key (a hash holding "ver" and "val"), KEYS[2]
// the version counter, ARGV[1] the read version, ARGV[2] the value. It returns the new
// version (> 0) when K's version is at most the read version, else minus the latest version.
std::string_view redis_cas_script();
inline constexpr std::string_view kRedisVersionKey = "cas:version";

// POST /v1/commit. 200 is a success, 409 "conflict" a conflict, anything else a failure.
class WeaselCommitWorkload final : public Workload {
 public:
  WeaselCommitWorkload(const TxnOptions& options, uint64_t stream, std::string host_header,
                       uint64_t start_version);
  RequestMeta next_request(uint32_t connection_id, ByteBuffer& out) override;
  Outcome on_response(uint32_t connection_id, const Response& response) override;
  uint64_t read_version() const { return read_version_; }

 private:
  TxnGenerator generator_;
  std::string host_header_;
  std::string body_;
  uint64_t read_version_;
};

// POST /v3/kv/txn. 200 with "succeeded":true is a success, 200 without it (a failed
// compare) a conflict, anything else a failure.
class EtcdTxnWorkload final : public Workload {
 public:
  EtcdTxnWorkload(const TxnOptions& options, uint64_t stream, std::string host_header,
                  uint64_t start_revision);
  RequestMeta next_request(uint32_t connection_id, ByteBuffer& out) override;
  Outcome on_response(uint32_t connection_id, const Response& response) override;
  uint64_t revision() const { return revision_; }

 private:
  TxnGenerator generator_;
  std::string host_header_;
  std::string body_;
  uint64_t revision_;
};

// EVALSHA of redis_cas_script() (loaded beforehand; its SHA1 given). A positive integer is a
// success, a negative one a conflict, anything else (errors) a failure.
class RedisCasWorkload final : public Workload {
 public:
  RedisCasWorkload(const TxnOptions& options, uint64_t stream, std::string script_sha,
                   uint64_t start_version);
  RequestMeta next_request(uint32_t connection_id, ByteBuffer& out) override;
  Outcome on_response(uint32_t connection_id, const Response& response) override;
  uint64_t read_version() const { return read_version_; }

 private:
  TxnGenerator generator_;
  std::string script_sha_;
  uint64_t read_version_;
};

}  // namespace weasel::load
