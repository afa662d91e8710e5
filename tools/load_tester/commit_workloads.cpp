#include "load_tester/commit_workloads.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/assert.hpp"
#include "core/base64.hpp"
#include "load_tester/http_protocol.hpp"
#include "load_tester/resp_protocol.hpp"

namespace weasel::load {
namespace {

constexpr uint32_t kMaxKeyBytes = 1024;
constexpr uint32_t kMaxValueBytes = 100'000;  // WeaselDB's default commit.max_value_bytes

// The widest JSON body a request can take, so that the body string is sized once.
size_t body_capacity(const TxnOptions& o) {
  return 256 + 2 * base64_encoded_size(o.key_bytes) + base64_encoded_size(o.value_bytes);
}

void append_uint(std::string& out, uint64_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  WEASEL_ASSERT(ec == std::errc());
  out.append(digits, static_cast<size_t>(end - digits));
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint32_t decimal_digits(uint64_t value) {
  uint32_t digits = 1;
  while (value >= 10) {
    value /= 10;
    ++digits;
  }
  return digits;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

const HttpHeader kJsonHeaders[] = {{"Content-Type", "application/json"}};

}  // namespace

std::string validate_txn_options(const TxnOptions& o) {
  if (o.keys == 0) return "--keys: at least 1";
  if (o.key_bytes < 2 || o.key_bytes > kMaxKeyBytes) return "--key-bytes: 2..1024";
  if (o.key_bytes <= 20 && decimal_digits(o.keys - 1) > o.key_bytes - 1) {
    return "--key-bytes: too short to number --keys keys";
  }
  if (o.value_bytes > kMaxValueBytes) return "--value-bytes: 0..100000";
  if (!std::isfinite(o.hot_fraction) || o.hot_fraction < 0 || o.hot_fraction > 1) {
    return "--hot-fraction: 0..1";
  }
  if (o.hot_fraction > 0 && (o.hot_keys == 0 || o.hot_keys > o.keys)) {
    return "--hot-keys: 1..--keys";
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
TxnGenerator::TxnGenerator(const TxnOptions& options, uint64_t stream)
    : options_(options), key_(options.key_bytes, '0'), value_(options.value_bytes, '\0') {
  WEASEL_ASSERT(validate_txn_options(options).empty());
  state_ = options.seed ^ ((stream + 1) * 0xd1b54a32d192ed03ULL);
  key_[0] = 'k';
}

uint64_t TxnGenerator::next_random() {
  return splitmix64(state_);
}

uint64_t TxnGenerator::below(uint64_t bound) {
  // Lemire's multiply-shift: uniform enough for a key space far below 2^64, and no division.
  return static_cast<uint64_t>((static_cast<unsigned __int128>(next_random()) * bound) >> 64);
}

std::string_view TxnGenerator::key_of(uint64_t index) {
  WEASEL_ASSERT(index < options_.keys);
  for (size_t i = key_.size() - 1; i >= 1; --i) {
    key_[i] = static_cast<char>('0' + index % 10);
    index /= 10;
  }
  return key_;
}

std::string_view TxnGenerator::next_key() {
  const double unit = static_cast<double>(next_random() >> 11) * 0x1.0p-53;  // [0, 1)
  const bool hot = unit < options_.hot_fraction;
  return key_of(below(hot ? options_.hot_keys : options_.keys));
}

std::string_view TxnGenerator::next_value() {
  for (size_t at = 0; at < value_.size(); at += sizeof(uint64_t)) {
    const uint64_t word = next_random();
    std::memcpy(value_.data() + at, &word, std::min(sizeof(word), value_.size() - at));
  }
  return value_;
}

// ---------------------------------------------------------------------------------------------
std::optional<uint64_t> find_json_uint(std::string_view json, std::string_view name) {
  for (size_t at = json.find(name); at != std::string_view::npos; at = json.find(name, at + 1)) {
    const size_t after = at + name.size();
    if (at == 0 || json[at - 1] != '"' || after >= json.size() || json[after] != '"') continue;
    size_t pos = after + 1;
    while (pos < json.size() && json[pos] == ' ') ++pos;
    if (pos == json.size() || json[pos] != ':') continue;
    ++pos;
    while (pos < json.size() && json[pos] == ' ') ++pos;
    if (pos < json.size() && json[pos] == '"') ++pos;
    uint64_t value = 0;
    const char* first = json.data() + pos;
    const auto [end, ec] = std::from_chars(first, json.data() + json.size(), value);
    if (ec != std::errc() || end == first) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

void append_weasel_commit_json(std::string& out, uint64_t read_version, std::string_view key,
                               std::string_view value) {
  out += R"({"read_version":)";
  append_uint(out, read_version);
  out += R"(,"preconditions":[{"type":"point_read","key":")";
  base64_encode_append(out, key);
  out += R"("}],"operations":[{"type":"write","key":")";
  base64_encode_append(out, key);
  out += R"(","value":")";
  base64_encode_append(out, value);
  out += R"("}]})";
}

void append_etcd_txn_json(std::string& out, uint64_t revision, std::string_view key,
                          std::string_view value) {
  out += R"({"compare":[{"key":")";
  base64_encode_append(out, key);
  out += R"(","target":"MOD","mod_revision":")";  // proto3 JSON quotes 64-bit integers
  append_uint(out, revision + 1);
  out += R"(","result":"LESS"}],"success":[{"request_put":{"key":")";
  base64_encode_append(out, key);
  out += R"(","value":")";
  base64_encode_append(out, value);
  out += R"("}}]})";
}

std::string_view redis_cas_script() {
  return "local ver = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')\n"
         "if ver > tonumber(ARGV[1]) then\n"
         "  return -tonumber(redis.call('GET', KEYS[2]) or '0')\n"
         "end\n"
         "local v = redis.call('INCR', KEYS[2])\n"
         "redis.call('HSET', KEYS[1], 'ver', v, 'val', ARGV[2])\n"
         "return v\n";
}

// ---------------------------------------------------------------------------------------------
WeaselCommitWorkload::WeaselCommitWorkload(const TxnOptions& options, uint64_t stream,
                                           std::string host_header, uint64_t start_version)
    : generator_(options, stream),
      host_header_(std::move(host_header)),
      read_version_(start_version) {
  body_.reserve(body_capacity(options));
}

RequestMeta WeaselCommitWorkload::next_request(uint32_t connection_id, ByteBuffer& out) {
  (void)connection_id;
  body_.clear();
  const std::string_view key = generator_.next_key();
  append_weasel_commit_json(body_, read_version_, key, generator_.next_value());
  frame_http_request(out, "POST", "/v1/commit", host_header_, kJsonHeaders, body_);
  return {};
}

Outcome WeaselCommitWorkload::on_response(uint32_t connection_id, const Response& response) {
  (void)connection_id;
  // Answers to commits carry the commit's version or the latest one: a good read version.
  if (const auto version = find_json_uint(response.body, "version")) {
    read_version_ = std::max(read_version_, *version);
  }
  if (response.status_code == 200) return Outcome::kSuccess;
  if (response.status_code == 409 && contains(response.body, R"("status":"conflict")")) {
    return Outcome::kConflict;
  }
  return Outcome::kFailure;
}

// ---------------------------------------------------------------------------------------------
EtcdTxnWorkload::EtcdTxnWorkload(const TxnOptions& options, uint64_t stream,
                                 std::string host_header, uint64_t start_revision)
    : generator_(options, stream), host_header_(std::move(host_header)), revision_(start_revision) {
  body_.reserve(body_capacity(options));
}

RequestMeta EtcdTxnWorkload::next_request(uint32_t connection_id, ByteBuffer& out) {
  (void)connection_id;
  body_.clear();
  const std::string_view key = generator_.next_key();
  append_etcd_txn_json(body_, revision_, key, generator_.next_value());
  frame_http_request(out, "POST", "/v3/kv/txn", host_header_, kJsonHeaders, body_);
  return {};
}

Outcome EtcdTxnWorkload::on_response(uint32_t connection_id, const Response& response) {
  (void)connection_id;
  if (response.status_code != 200) return Outcome::kFailure;
  // The first "revision" is the response header's: the store's revision after the txn.
  if (const auto revision = find_json_uint(response.body, "revision")) {
    revision_ = std::max(revision_, *revision);
  }
  // A failed compare is a 200 whose "succeeded" is false, which proto3 JSON leaves out.
  return contains(response.body, R"("succeeded":true)") ? Outcome::kSuccess : Outcome::kConflict;
}

// ---------------------------------------------------------------------------------------------
RedisCasWorkload::RedisCasWorkload(const TxnOptions& options, uint64_t stream,
                                   std::string script_sha, uint64_t start_version)
    : generator_(options, stream),
      script_sha_(std::move(script_sha)),
      read_version_(start_version) {}

RequestMeta RedisCasWorkload::next_request(uint32_t connection_id, ByteBuffer& out) {
  (void)connection_id;
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), read_version_);
  WEASEL_ASSERT(ec == std::errc());
  const std::string_view key = generator_.next_key();
  const std::string_view args[] = {"EVALSHA",
                                   script_sha_,
                                   "2",
                                   key,
                                   kRedisVersionKey,
                                   std::string_view(digits, static_cast<size_t>(end - digits)),
                                   generator_.next_value()};
  frame_resp_command(out, args);
  return {};
}

Outcome RedisCasWorkload::on_response(uint32_t connection_id, const Response& response) {
  (void)connection_id;
  if (response.status_code != 200 || response.raw.empty() || response.raw.front() != ':') {
    return Outcome::kFailure;
  }
  int64_t result = 0;
  const std::string_view text = response.body;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), result);
  if (ec != std::errc() || end != text.data() + text.size() || result == 0) {
    return Outcome::kFailure;
  }
  const uint64_t version =
      result > 0 ? static_cast<uint64_t>(result) : 0 - static_cast<uint64_t>(result);
  read_version_ = std::max(read_version_, version);
  return result > 0 ? Outcome::kSuccess : Outcome::kConflict;
}

}  // namespace weasel::load
