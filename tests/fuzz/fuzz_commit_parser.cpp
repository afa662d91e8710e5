// libFuzzer target for the commit body parser (src/commit/commit_parser.hpp).
// Properties, for any input:
// - no crash, no sanitizer report, no read past the body and its padding;
// - the copying (padded=false) and in-place (padded=true) paths agree, message included;
// - an accepted request satisfies every rule (limits, begin < end, versions < 2^53, request_id
//   charset) and survives a round trip: written back as JSON and parsed again, it is equal;
// - tighter limits never accept what the default limits reject.
//
// Run (libFuzzer adds new inputs to the first directory, so give it a scratch one):
//   ./scripts/build.sh fuzz fuzz_commit_parser && mkdir -p /tmp/fuzz_commit_parser &&
//   ./build/fuzz/fuzz_commit_parser /tmp/fuzz_commit_parser tests/fuzz/corpus/commit_parser -max_total_time=60

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "commit/commit_parser.hpp"
#include "core/base64.hpp"

namespace {

using weasel::CommitLimits;
using weasel::CommitRequest;
using weasel::Operation;
using weasel::Precondition;

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz_commit_parser: %s\n", what);
    std::abort();
  }
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\u%04x", u);
      out += escape;
    } else {
      out += c;  // the parser only accepts valid UTF-8, so this stays valid
    }
  }
  out += '"';
}

void append_b64_field(std::string& out, const char* name, std::string_view bytes) {
  out += ",\"";
  out += name;
  out += "\":\"";
  weasel::base64_encode_append(out, bytes);
  out += '"';
}

std::string to_json(const CommitRequest& r) {
  std::string out = "{\"preconditions\":[";
  for (size_t i = 0; i < r.preconditions.size(); ++i) {
    const Precondition& p = r.preconditions[i];
    const bool range = p.type == Precondition::Type::kRangeRead;
    out += i == 0 ? "" : ",";
    out += range ? R"({"type":"range_read")" : R"({"type":"point_read")";
    append_b64_field(out, range ? "begin" : "key", p.key);
    if (range && !p.end_is_infinite) append_b64_field(out, "end", p.end);
    out += ",\"version\":" + std::to_string(p.version) + "}";
  }
  out += "],\"operations\":[";
  for (size_t i = 0; i < r.operations.size(); ++i) {
    const Operation& o = r.operations[i];
    out += i == 0 ? "" : ",";
    if (o.type == Operation::Type::kWrite) {
      out += R"({"type":"write")";
      append_b64_field(out, "key", o.key);
      append_b64_field(out, "value", o.value);
    } else if (o.type == Operation::Type::kDelete) {
      out += R"({"type":"delete")";
      append_b64_field(out, "key", o.key);
    } else {
      out += R"({"type":"range_delete")";
      append_b64_field(out, "begin", o.key);
      if (!o.end_is_infinite) append_b64_field(out, "end", o.end);
    }
    out += "}";
  }
  out += "]";
  if (!r.request_id.empty()) {
    out += ",\"request_id\":";
    append_json_string(out, r.request_id);
  }
  if (r.has_leader_id) {
    out += ",\"leader_id\":";
    append_json_string(out, r.leader_id);
  }
  if (r.has_read_version) out += ",\"read_version\":" + std::to_string(r.read_version);
  return out + "}";
}

bool key_less(std::string_view a, std::string_view b) {
  const size_t common = a.size() < b.size() ? a.size() : b.size();
  const int c = common == 0 ? 0 : std::memcmp(a.data(), b.data(), common);
  return c < 0 || (c == 0 && a.size() < b.size());
}

void check_rules(const CommitRequest& r, const CommitLimits& limits) {
  constexpr uint64_t kVersionLimit = uint64_t{1} << 53;
  check(r.preconditions.size() <= limits.max_preconditions, "too many preconditions");
  check(r.operations.size() <= limits.max_operations, "too many operations");
  check(r.read_version < kVersionLimit, "read_version out of range");
  if (!r.request_id.empty()) {
    check(r.request_id.size() >= limits.min_request_id_length &&
              r.request_id.size() <= limits.max_request_id_length,
          "request_id length");
    for (const char c : r.request_id) {
      check(std::strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-", c) !=
                    nullptr &&
                c != '\0',
            "request_id charset");
    }
  }
  for (const Precondition& p : r.preconditions) {
    check(p.version < kVersionLimit, "precondition version out of range");
    check(p.key.size() <= limits.max_key_bytes && p.end.size() <= limits.max_key_bytes, "key size");
    if (p.type == Precondition::Type::kRangeRead && !p.end_is_infinite) {
      check(key_less(p.key, p.end), "range_read begin >= end");
    }
  }
  for (const Operation& o : r.operations) {
    check(o.key.size() <= limits.max_key_bytes && o.end.size() <= limits.max_key_bytes, "key size");
    check(o.value.size() <= limits.max_value_bytes, "value size");
    if (o.type == Operation::Type::kRangeDelete && !o.end_is_infinite) {
      check(key_less(o.key, o.end), "range_delete begin >= end");
    }
  }
}

bool same(const CommitRequest& a, const CommitRequest& b) {
  if (a.request_id != b.request_id || a.has_leader_id != b.has_leader_id ||
      a.leader_id != b.leader_id || a.has_read_version != b.has_read_version ||
      a.read_version != b.read_version || a.preconditions.size() != b.preconditions.size() ||
      a.operations.size() != b.operations.size()) {
    return false;
  }
  for (size_t i = 0; i < a.preconditions.size(); ++i) {
    const Precondition& x = a.preconditions[i];
    const Precondition& y = b.preconditions[i];
    if (x.type != y.type || x.key != y.key || x.end != y.end ||
        x.end_is_infinite != y.end_is_infinite || x.version != y.version) {
      return false;
    }
  }
  for (size_t i = 0; i < a.operations.size(); ++i) {
    const Operation& x = a.operations[i];
    const Operation& y = b.operations[i];
    if (x.type != y.type || x.key != y.key || x.value != y.value || x.end != y.end ||
        x.end_is_infinite != y.end_is_infinite) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  const CommitLimits limits;
  weasel::Arena arena;
  CommitRequest request{};
  weasel::CommitParseError err;
  const bool ok = weasel::parse_commit_request(json, false, arena, limits, request, err);
  check(ok == err.message.empty(), "an error needs a message, success none");

  // In place, with padding of quotes and backslashes that a runaway scan would trip on.
  std::string padded(json);
  padded.append(simdjson::SIMDJSON_PADDING, '"');
  padded[size] = '\\';
  weasel::Arena padded_arena;
  CommitRequest padded_request{};
  weasel::CommitParseError padded_err;
  const bool padded_ok =
      weasel::parse_commit_request(std::string_view(padded.data(), size), true, padded_arena,
                                   limits, padded_request, padded_err);
  check(ok == padded_ok && err.message == padded_err.message, "padded and copied paths disagree");

  CommitLimits tight;
  tight.max_key_bytes = 8;
  tight.max_value_bytes = 16;
  tight.max_preconditions = 2;
  tight.max_operations = 3;
  tight.min_request_id_length = 1;
  tight.max_request_id_length = 24;
  weasel::Arena tight_arena;
  CommitRequest tight_request{};
  weasel::CommitParseError tight_err;
  const bool tight_ok =
      weasel::parse_commit_request(json, false, tight_arena, tight, tight_request, tight_err);
  if (tight_ok) check_rules(tight_request, tight);
  // Only the request_id minimum is looser in `tight`; any other acceptance implies ours.
  if (tight_ok && (tight_request.request_id.empty() || tight_request.request_id.size() >= 20)) {
    check(ok, "tight limits accepted what default limits rejected");
  }
  if (!ok) return 0;

  check_rules(request, limits);
  check(same(request, padded_request), "padded and copied paths built different requests");
  const std::string again = to_json(request);
  weasel::Arena again_arena;
  CommitRequest again_request{};
  weasel::CommitParseError again_err;
  check(weasel::parse_commit_request(again, false, again_arena, limits, again_request, again_err),
        "a request written back as JSON does not parse");
  check(same(request, again_request), "round trip changed the request");
  return 0;
}
