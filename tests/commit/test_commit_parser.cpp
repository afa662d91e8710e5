// Unit tests for the commit body parser (src/commit/commit_parser.hpp): every rule of SPEC
// sections 2-3 for POST /v1/commit, with the exact JSON path of each error.

#include "commit/commit_parser.hpp"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <latch>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/base64.hpp"

namespace weasel {
namespace {

std::string b64(std::string_view bytes) {
  std::string out;
  base64_encode_append(out, bytes);
  return out;
}

// Parses `json` both ways (copied by the parser, and in place with padding the caller
// provides, filled with bytes a runaway scan would trip on) and checks that both agree.
class Parser {
 public:
  explicit Parser(CommitLimits limits = {}) : limits_(limits) {}

  bool parse(std::string_view json) {
    CommitRequest copied{};
    CommitParseError copied_err;
    copied_arena_.reset();
    const bool copied_ok =
        parse_commit_request(json, false, copied_arena_, limits_, copied, copied_err);

    padded_.assign(json.begin(), json.end());
    padded_.append(simdjson::SIMDJSON_PADDING, '"');
    padded_[json.size() + 1] = '\\';
    CommitParseError padded_err;
    arena_.reset();
    const bool ok = parse_commit_request(std::string_view(padded_.data(), json.size()), true,
                                         arena_, limits_, request, padded_err);
    REQUIRE(ok == copied_ok);
    CHECK(padded_err.message == copied_err.message);
    error = padded_err.message;
    if (ok) check_points_into_arena();
    return ok;
  }

  // Parses, expecting failure with exactly `message`.
  void fails(std::string_view json, std::string_view message) {
    CAPTURE(json);
    CHECK_FALSE(parse(json));
    CHECK(error == message);
  }

  CommitRequest request{};
  std::string error;

 private:
  // The model must not refer to the request body (the connection may reuse its buffer).
  void check_points_into_arena() const {
    const char* begin = padded_.data();
    const char* end = begin + padded_.size();
    auto outside = [&](std::string_view s) {
      return s.empty() || s.data() >= end || s.data() < begin;
    };
    CHECK(outside(request.request_id));
    CHECK(outside(request.leader_id));
    for (const Precondition& p : request.preconditions) {
      CHECK(outside(p.key));
      CHECK(outside(p.end));
    }
    for (const Operation& o : request.operations) {
      CHECK(outside(o.key));
      CHECK(outside(o.value));
      CHECK(outside(o.end));
    }
  }

  CommitLimits limits_;
  Arena arena_;
  Arena copied_arena_;
  std::string padded_;
};

std::string with_op(std::string_view op) {
  return R"({"operations":[)" + std::string(op) + "]}";
}
std::string with_pre(std::string_view pre) {
  return R"({"read_version":7,"preconditions":[)" + std::string(pre) + "]}";
}

const std::string kRequestId = "req-0123456789abcdefgh";  // 22 characters

TEST_CASE("commit parser: the SPEC example") {
  Parser p;
  REQUIRE(p.parse(R"({
    "request_id": "req-0123456789abcdefgh",
    "leader_id": "leader-1",
    "read_version": 1234,
    "preconditions": [
      {"type": "point_read", "key": "a2V5", "version": 1200},
      {"type": "range_read", "begin": "YQ==", "end": "Yg=="}
    ],
    "operations": [
      {"type": "write", "key": "a2V5", "value": "dmFsdWU="},
      {"type": "delete", "key": "b2xk"},
      {"type": "range_delete", "begin": "dG1w", "end": "dG1x"}
    ]
  })"));
  const CommitRequest& r = p.request;
  CHECK(r.request_id == kRequestId);
  CHECK(r.has_leader_id);
  CHECK(r.leader_id == "leader-1");
  CHECK(r.has_read_version);
  CHECK(r.read_version == 1234);
  REQUIRE(r.preconditions.size() == 2);
  CHECK(r.preconditions[0].type == Precondition::Type::kPointRead);
  CHECK(r.preconditions[0].key == "key");
  CHECK(r.preconditions[0].version == 1200);
  CHECK_FALSE(r.preconditions[0].end_is_infinite);
  CHECK(r.preconditions[1].type == Precondition::Type::kRangeRead);
  CHECK(r.preconditions[1].key == "a");
  CHECK(r.preconditions[1].end == "b");
  CHECK_FALSE(r.preconditions[1].end_is_infinite);
  CHECK(r.preconditions[1].version == 1234);  // defaults to read_version
  REQUIRE(r.operations.size() == 3);
  CHECK(r.operations[0].type == Operation::Type::kWrite);
  CHECK(r.operations[0].key == "key");
  CHECK(r.operations[0].value == "value");
  CHECK(r.operations[1].type == Operation::Type::kDelete);
  CHECK(r.operations[1].key == "old");
  CHECK(r.operations[2].type == Operation::Type::kRangeDelete);
  CHECK(r.operations[2].key == "tmp");
  CHECK(r.operations[2].end == "tmq");
  CHECK_FALSE(r.operations[2].end_is_infinite);
}

TEST_CASE("commit parser: every top-level field is optional") {
  Parser p;
  REQUIRE(p.parse("{}"));
  CHECK(p.request.request_id.empty());
  CHECK_FALSE(p.request.has_leader_id);
  CHECK_FALSE(p.request.has_read_version);
  CHECK(p.request.preconditions.empty());
  CHECK(p.request.operations.empty());
  REQUIRE(p.parse(" \t\r\n{ \"preconditions\" : [ ] , \"operations\" : [ ] } \n"));
  CHECK(p.request.operations.empty());
  REQUIRE(p.parse(R"({"read_version":0})"));
  CHECK(p.request.has_read_version);
  CHECK(p.request.read_version == 0);
}

TEST_CASE("commit parser: the body must be one JSON object") {
  Parser p;
  for (const char* body : {"[]", "1", "\"x\"", "null", "true", "[{}]"}) {
    p.fails(body, "request body: must be a JSON object");
  }
  for (const char* body : {"", "   ", "{", "{\"operations\":[", "{\"read_version\" 1}",
                           "{\"read_version\":1,}", "{\"read_version\":1 \"leader_id\":\"x\"}",
                           "{} {}", "{}x", "{}}", "{\"leader_id\":\"abc}"}) {
    const std::string json = body;
    CAPTURE(json);
    CHECK_FALSE(p.parse(body));
    CHECK(p.error.find("invalid JSON (") != std::string::npos);
  }
  p.fails("{} {}", "invalid JSON (content after the top-level object)");
  // A bare word is not JSON, and in any case not a string.
  p.fails(R"({"leader_id":abc})", "leader_id: must be a string");
}

TEST_CASE("commit parser: unknown and duplicate top-level fields") {
  Parser p;
  p.fails(R"({"foo":1})", "foo: unknown field");
  p.fails(R"({"Operations":[]})", "Operations: unknown field");
  p.fails(R"({"a b":1})", "request body: unknown field");  // odd names are not echoed
  p.fails(R"({"":1})", "request body: unknown field");
  p.fails(R"({"operations":[],"operations":[]})", "operations: duplicate field");
  p.fails(R"({"preconditions":[],"preconditions":[]})", "preconditions: duplicate field");
  p.fails(R"({"read_version":1,"read_version":1})", "read_version: duplicate field");
  p.fails(R"({"leader_id":"a","leader_id":"a"})", "leader_id: duplicate field");
  p.fails(R"({"request_id":")" + kRequestId + R"(","request_id":")" + kRequestId + "\"}",
          "request_id: duplicate field");
  // Names that start like known ones are not known ones.
  p.fails(R"({"operations_":[]})", "operations_: unknown field");
  p.fails(R"({"leader_i":"x"})", "leader_i: unknown field");
  p.fails(R"({"request_id\"":"x"})", "request body: unknown field");
  p.fails(with_op(R"({"types":"delete"})"), "operations[0].types: unknown field");
  p.fails(with_op(R"({"ke":""})"), "operations[0].ke: unknown field");
  p.fails(with_op(R"({"key\"":""})"), "operations[0]: unknown field");
  p.fails(with_op(R"({"valuey":""})"), "operations[0].valuey: unknown field");
  // Escaped spellings of known names are those names.
  REQUIRE(p.parse(R"({"op\u0065rations":[{"\u0074ype":"delete","k\u0065y":"YQ=="}]})"));
  CHECK(p.request.operations[0].key == "a");
  // Escaped names are compared unescaped: this is a duplicate too.
  p.fails(R"({"leader_id":"a","leader\u005fid":"a"})", "leader_id: duplicate field");
}

TEST_CASE("commit parser: top-level field types") {
  Parser p;
  p.fails(R"({"request_id":1})", "request_id: must be a string");
  p.fails(R"({"request_id":null})", "request_id: must be a string");
  p.fails(R"({"leader_id":["a"]})", "leader_id: must be a string");
  p.fails(R"({"leader_id":{}})", "leader_id: must be a string");
  p.fails(R"({"read_version":"1"})", "read_version: must be an unsigned integer");
  p.fails(R"({"read_version":true})", "read_version: must be an unsigned integer");
  p.fails(R"({"read_version":[1]})", "read_version: must be an unsigned integer");
  p.fails(R"({"preconditions":{}})", "preconditions: must be an array");
  p.fails(R"({"preconditions":null})", "preconditions: must be an array");
  p.fails(R"({"operations":"[]"})", "operations: must be an array");
  p.fails(R"({"operations":0})", "operations: must be an array");
}

TEST_CASE("commit parser: version numbers") {
  Parser p;
  p.fails(R"({"read_version":-1})", "read_version: must not be negative");
  p.fails(R"({"read_version":-0})", "read_version: must not be negative");
  p.fails(R"({"read_version":1.5})", "read_version: must be an integer");
  p.fails(R"({"read_version":1.0})", "read_version: must be an integer");
  p.fails(R"({"read_version":1e3})", "read_version: must be an integer");
  p.fails(R"({"read_version":1E3})", "read_version: must be an integer");
  p.fails(R"({"read_version":9007199254740992})", "read_version: must be less than 2^53");
  p.fails(R"({"read_version":18446744073709551615})", "read_version: must be less than 2^53");
  p.fails(R"({"read_version":18446744073709551616})", "read_version: must be less than 2^53");
  p.fails(R"({"read_version":123456789012345678901234567890})",
          "read_version: must be less than 2^53");
  p.fails(R"({"read_version":01})", "read_version: invalid number");
  p.fails(R"({"read_version":1x})", "read_version: invalid number");
  p.fails(R"({"read_version":-x})", "read_version: invalid number");
  p.fails(R"({"read_version":-})", "read_version: invalid number");
  p.fails(R"({"read_version":1true})", "read_version: invalid number");
  p.fails(R"({"read_version":1.})", "read_version: invalid number");
  p.fails(R"({"read_version":-1.5e3})", "read_version: must not be negative");
  p.fails(R"({"read_version":2e-1})", "read_version: must be an integer");
  REQUIRE(p.parse(R"({"read_version":9007199254740991})"));
  CHECK(p.request.read_version == 9007199254740991ull);
  p.fails(with_pre(R"({"type":"point_read","key":"","version":-5})"),
          "preconditions[0].version: must not be negative");
  p.fails(with_pre(R"({"type":"point_read","key":"","version":2.5})"),
          "preconditions[0].version: must be an integer");
  p.fails(with_pre(R"({"type":"point_read","key":"","version":9007199254740992})"),
          "preconditions[0].version: must be less than 2^53");
  p.fails(with_pre(R"({"type":"point_read","key":"","version":"5"})"),
          "preconditions[0].version: must be an unsigned integer");
  p.fails(with_pre(R"({"type":"point_read","key":"","version":null})"),
          "preconditions[0].version: must be an unsigned integer");
}

TEST_CASE("commit parser: request_id") {
  Parser p;
  const std::string id20(20, 'a');
  const std::string id128(128, 'Z');
  REQUIRE(p.parse(R"({"request_id":")" + id20 + "\"}"));
  CHECK(p.request.request_id == id20);
  REQUIRE(p.parse(R"({"request_id":")" + id128 + "\"}"));
  CHECK(p.request.request_id == id128);
  REQUIRE(p.parse(R"({"request_id":"azAZ09._:-azAZ09._:-"})"));
  p.fails(R"({"request_id":")" + std::string(19, 'a') + "\"}",
          "request_id: length must be between 20 and 128");
  p.fails(R"({"request_id":")" + std::string(129, 'a') + "\"}",
          "request_id: length must be between 20 and 128");
  p.fails(R"({"request_id":""})", "request_id: length must be between 20 and 128");
  p.fails(R"({"request_id":"aaaaaaaaaa aaaaaaaaaa"})",
          "request_id: character 10 is not one of A-Z a-z 0-9 . _ : -");
  p.fails(R"({"request_id":"aaaaaaaaaa/aaaaaaaaaa"})",
          "request_id: character 10 is not one of A-Z a-z 0-9 . _ : -");
  p.fails(R"({"request_id":"aaaaaaaaaa\u00e9aaaaaaaaa"})",
          "request_id: character 10 is not one of A-Z a-z 0-9 . _ : -");
  // Escapes are unescaped before the checks.
  REQUIRE(p.parse(R"({"request_id":"\u0041aaaaaaaaaaaaaaaaaaa"})"));
  CHECK(p.request.request_id == "A" + std::string(19, 'a'));

  CommitLimits limits;
  limits.min_request_id_length = 1;
  limits.max_request_id_length = 4;
  Parser q(limits);
  REQUIRE(q.parse(R"({"request_id":"a"})"));
  q.fails(R"({"request_id":"abcde"})", "request_id: length must be between 1 and 4");
}

TEST_CASE("commit parser: leader_id") {
  Parser p;
  REQUIRE(p.parse(R"({"leader_id":""})"));
  CHECK(p.request.has_leader_id);
  CHECK(p.request.leader_id.empty());
  REQUIRE(p.parse(R"({"leader_id":"a\"b\\c\u00e9"})"));
  CHECK(p.request.leader_id == "a\"b\\c\xc3\xa9");
}

TEST_CASE("commit parser: preconditions") {
  Parser p;
  REQUIRE(p.parse(with_pre(R"({"type":"point_read","key":""},
                             {"type":"range_read","begin":""},
                             {"type":"range_read","begin":"YQ==","end":"YWI=","version":3})")));
  const auto& pre = p.request.preconditions;
  REQUIRE(pre.size() == 3);
  CHECK(pre[0].key.empty());  // the empty key is valid
  CHECK(pre[0].version == 7);
  CHECK(pre[1].type == Precondition::Type::kRangeRead);
  CHECK(pre[1].key.empty());
  CHECK(pre[1].end_is_infinite);
  CHECK(pre[1].end.empty());
  CHECK(pre[2].key == "a");
  CHECK(pre[2].end == "ab");  // a proper prefix sorts first
  CHECK_FALSE(pre[2].end_is_infinite);
  CHECK(pre[2].version == 3);

  // read_version may come after the preconditions that need it.
  REQUIRE(p.parse(R"({"preconditions":[{"type":"point_read","key":"YQ=="}],"read_version":9})"));
  CHECK(p.request.preconditions[0].version == 9);
  p.fails(R"({"preconditions":[{"type":"point_read","key":"YQ==","version":1},
                               {"type":"point_read","key":"YQ=="}]})",
          "read_version: required when a precondition has no version");
  REQUIRE(p.parse(R"({"preconditions":[{"type":"point_read","key":"YQ==","version":1}]})"));
  CHECK_FALSE(p.request.has_read_version);
  CHECK(p.request.preconditions[0].version == 1);
}

TEST_CASE("commit parser: operations") {
  Parser p;
  REQUIRE(p.parse(with_op(R"({"type":"write","key":"","value":""},
                            {"value":"dg==","key":"aw==","type":"write"},
                            {"type":"delete","key":"aw=="},
                            {"type":"range_delete","begin":"YQ=="},
                            {"begin":"","end":"AA==","type":"range_delete"})")));
  const auto& ops = p.request.operations;
  REQUIRE(ops.size() == 5);
  CHECK(ops[0].type == Operation::Type::kWrite);
  CHECK(ops[0].key.empty());
  CHECK(ops[0].value.empty());
  CHECK(ops[1].key == "k");  // "type" may come last
  CHECK(ops[1].value == "v");
  CHECK(ops[2].type == Operation::Type::kDelete);
  CHECK(ops[2].key == "k");
  CHECK(ops[3].type == Operation::Type::kRangeDelete);
  CHECK(ops[3].key == "a");
  CHECK(ops[3].end_is_infinite);
  CHECK(ops[4].key.empty());
  CHECK(ops[4].end == std::string_view("\0", 1));
  CHECK_FALSE(ops[4].end_is_infinite);
}

TEST_CASE("commit parser: ranges need begin < end in memcmp order") {
  Parser p;
  p.fails(with_op(R"({"type":"range_delete","begin":"YQ==","end":"YQ=="})"),
          "operations[0].end: must be greater than begin");
  p.fails(with_op(R"({"type":"range_delete","begin":"Yg==","end":"YQ=="})"),
          "operations[0].end: must be greater than begin");
  p.fails(with_op(R"({"type":"range_delete","begin":"YWI=","end":"YQ=="})"),
          "operations[0].end: must be greater than begin");  // "ab" >= "a"
  p.fails(with_op(R"({"type":"range_delete","begin":"","end":""})"),
          "operations[0].end: must be greater than begin");
  p.fails(with_pre(R"({"type":"range_read","begin":"","end":"YQ=="},
                     {"type":"range_read","begin":"gA==","end":"fw=="})"),
          "preconditions[1].end: must be greater than begin");  // 0x80 > 0x7f: bytes unsigned
  REQUIRE(p.parse(with_pre(R"({"type":"range_read","begin":"fw==","end":"gA=="})")));
}

TEST_CASE("commit parser: required and allowed fields per type") {
  Parser p;
  p.fails(with_pre(R"({"key":"YQ=="})"), "preconditions[0].type: required");
  p.fails(with_op(R"({"key":"YQ==","value":""})"), "operations[0].type: required");
  p.fails(with_pre(R"({"type":"point_read"})"), "preconditions[0].key: required in a point_read");
  p.fails(with_pre(R"({"type":"range_read","end":"YQ=="})"),
          "preconditions[0].begin: required in a range_read");
  p.fails(with_op(R"({"type":"write","key":"YQ=="})"), "operations[0].value: required in a write");
  p.fails(with_op(R"({"type":"write","value":"YQ=="})"), "operations[0].key: required in a write");
  p.fails(with_op(R"({"type":"delete"})"), "operations[0].key: required in a delete");
  p.fails(with_op(R"({"type":"range_delete"})"), "operations[0].begin: required in a range_delete");

  p.fails(with_pre(R"({"type":"point_read","key":"","begin":""})"),
          "preconditions[0].begin: not allowed in a point_read");
  p.fails(with_pre(R"({"type":"point_read","key":"","end":"YQ=="})"),
          "preconditions[0].end: not allowed in a point_read");
  p.fails(with_pre(R"({"type":"range_read","key":"","begin":""})"),
          "preconditions[0].key: not allowed in a range_read");
  p.fails(with_op(R"({"type":"delete","key":"","value":""})"),
          "operations[0].value: not allowed in a delete");
  p.fails(with_op(R"({"type":"write","key":"","value":"","end":"YQ=="})"),
          "operations[0].end: not allowed in a write");
  p.fails(with_op(R"({"type":"range_delete","begin":"","key":""})"),
          "operations[0].key: not allowed in a range_delete");
  p.fails(with_op(R"({"type":"range_delete","begin":"","value":""})"),
          "operations[0].value: not allowed in a range_delete");

  p.fails(with_pre(R"({"type":"point_read","key":"","value":""})"),
          "preconditions[0].value: unknown field");
  p.fails(with_op(R"({"type":"delete","key":"","version":1})"),
          "operations[0].version: unknown field");
  p.fails(with_op(R"({"type":"delete","key":"","extra":1})"), "operations[0].extra: unknown field");
  p.fails(with_op(R"({"type":"delete","key":"","\u00e9":1})"), "operations[0]: unknown field");

  p.fails(with_pre(R"({"type":"point_write","key":""})"),
          R"(preconditions[0].type: must be "point_read" or "range_read")");
  p.fails(with_op(R"({"type":"put","key":""})"),
          R"(operations[0].type: must be "write", "delete" or "range_delete")");
  p.fails(with_op(R"({"type":"Write","key":"","value":""})"),
          R"(operations[0].type: must be "write", "delete" or "range_delete")");
  p.fails(with_op(R"({"type":1,"key":""})"), "operations[0].type: must be a string");
}

TEST_CASE("commit parser: element shapes, duplicates and value types") {
  Parser p;
  p.fails(with_op(R"({"type":"delete","key":""},[],{})"), "operations[1]: must be an object");
  p.fails(with_op(R"("write")"), "operations[0]: must be an object");
  p.fails(with_op("null"), "operations[0]: must be an object");
  p.fails(with_pre("1"), "preconditions[0]: must be an object");
  p.fails(with_op(R"({"type":"delete","key":"","key":""})"), "operations[0].key: duplicate field");
  p.fails(with_op(R"({"type":"delete","type":"delete","key":""})"),
          "operations[0].type: duplicate field");
  p.fails(with_pre(R"({"type":"point_read","key":"","version":1,"version":1})"),
          "preconditions[0].version: duplicate field");
  p.fails(with_op(R"({"type":"delete","key":1})"), "operations[0].key: must be a string");
  p.fails(with_op(R"({"type":"delete","key":null})"), "operations[0].key: must be a string");
  p.fails(with_op(R"({"type":"delete","key":["YQ=="]})"), "operations[0].key: must be a string");
  p.fails(with_op(R"({"type":"write","key":"","value":{}})"),
          "operations[0].value: must be a string");
  p.fails(with_op(R"({"type":"range_delete","begin":"","end":false})"),
          "operations[0].end: must be a string");
  // Malformed JSON inside an element names where parsing stopped.
  p.fails(with_op(R"({"type":"delete","key":""},{"type" "delete"})"),
          "operations[1]: invalid JSON (The JSON document has an improper structure: "
          "missing or superfluous commas, braces, missing keys, etc.)");
}

TEST_CASE("commit parser: invalid base64 names the field") {
  Parser p;
  p.fails(with_op(R"({"type":"delete","key":""},{"type":"delete","key":""},
                    {"type":"delete","key":""},{"type":"delete","key":"YQ="})"),
          "operations[3].key: invalid base64 at offset 3");
  p.fails(with_op(R"({"type":"write","key":"","value":"YQ= ="})"),
          "operations[0].value: invalid base64 at offset 3");
  p.fails(with_op(R"({"type":"range_delete","begin":"YR==","end":"Yg=="})"),
          "operations[0].begin: invalid base64 at offset 2");
  p.fails(with_op(R"({"type":"range_delete","begin":"","end":"Y-=="})"),
          "operations[0].end: invalid base64 at offset 1");
  p.fails(with_pre(R"({"type":"point_read","key":"a2V5\n"})"),
          "preconditions[0].key: invalid base64 at offset 4");
  // JSON escapes are undone first: "\/" is "/" and "\u003d" is "=".
  REQUIRE(p.parse(with_op(R"({"type":"write","key":"\/w\u003d\u003d","value":"YQ=="})")));
  CHECK(p.request.operations[0].key == "\xff");
}

std::string op_json(std::string_view key, std::string_view value) {
  return R"({"type":"write","key":")" + b64(key) + R"(","value":")" + b64(value) + "\"}";
}

TEST_CASE("commit parser: size limits, exactly at the limit and one past it") {
  Parser p;  // default limits: key 10000 bytes, value 100000 bytes
  const std::string key_max(10000, 'k');
  const std::string value_max(100000, 'v');
  REQUIRE(p.parse(with_op(op_json(key_max, value_max))));
  CHECK(p.request.operations[0].key == key_max);
  CHECK(p.request.operations[0].value == value_max);
  p.fails(with_op(op_json(key_max + "k", "")), "operations[0].key: larger than 10000 bytes");
  p.fails(with_op(op_json("", value_max + "v")), "operations[0].value: larger than 100000 bytes");
  // Limits apply to decoded bytes: 10001 bytes need 13336 characters, like 10000 bytes.
  REQUIRE(b64(key_max + "k").size() == b64(key_max).size());
  p.fails(with_op(R"({"type":"range_delete","begin":")" + b64(key_max + "k") + "\"}"),
          "operations[0].begin: larger than 10000 bytes");
  p.fails(with_pre(R"({"type":"range_read","begin":"","end":")" + b64(key_max + "k") + "\"}"),
          "preconditions[0].end: larger than 10000 bytes");
  p.fails(with_pre(R"({"type":"point_read","key":")" + b64(key_max + "kk") + "\"}"),
          "preconditions[0].key: larger than 10000 bytes");

  CommitLimits limits;
  limits.max_key_bytes = 4;
  limits.max_value_bytes = 5;
  limits.max_preconditions = 2;
  limits.max_operations = 3;
  Parser q(limits);
  REQUIRE(q.parse(with_op(op_json("1234", "12345"))));
  q.fails(with_op(op_json("12345", "")), "operations[0].key: larger than 4 bytes");
  q.fails(with_op(op_json("", "123456")), "operations[0].value: larger than 5 bytes");
  const std::string op = R"({"type":"delete","key":""})";
  REQUIRE(q.parse(with_op(op + "," + op + "," + op)));
  q.fails(with_op(op + "," + op + "," + op + "," + op), "operations: more than 3 entries");
  const std::string pre = R"({"type":"point_read","key":""})";
  REQUIRE(q.parse(with_pre(pre + "," + pre)));
  q.fails(with_pre(pre + "," + pre + "," + pre), "preconditions: more than 2 entries");
  // The count is checked before the element is read.
  q.fails(with_pre(pre + "," + pre + ",42"), "preconditions: more than 2 entries");
}

TEST_CASE("commit parser: large valid requests at the default count limits") {
  std::mt19937_64 rng(1234);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  std::vector<std::pair<std::string, std::string>> writes;
  std::string json = R"({"request_id":")" + kRequestId + R"(","read_version":42,"preconditions":[)";
  std::vector<std::string> read_keys;
  for (int i = 0; i < 10000; ++i) {
    read_keys.push_back(random_bytes(i % 40));
    json += i == 0 ? "" : ",";
    json += R"({"type":"point_read","key":")" + b64(read_keys.back()) + "\"}";
  }
  json += R"(],"operations":[)";
  for (int i = 0; i < 10000; ++i) {
    writes.emplace_back(random_bytes(16), random_bytes(i % 300));
    json += i == 0 ? "" : ",";
    json += op_json(writes.back().first, writes.back().second);
  }
  Parser p;
  REQUIRE(p.parse(json + "]}"));
  REQUIRE(p.request.preconditions.size() == 10000);
  REQUIRE(p.request.operations.size() == 10000);
  for (size_t i = 0; i < 10000; ++i) {
    REQUIRE(p.request.preconditions[i].key == read_keys[i]);
    REQUIRE(p.request.preconditions[i].version == 42);
    REQUIRE(p.request.operations[i].key == writes[i].first);
    REQUIRE(p.request.operations[i].value == writes[i].second);
  }
  p.fails(json + "," + op_json("k", "v") + "]}", "operations: more than 10000 entries");
}

TEST_CASE("commit parser: a result survives later parses on the same thread") {
  Arena first_arena;
  Arena second_arena;
  CommitRequest first{};
  CommitRequest second{};
  CommitParseError err;
  const CommitLimits limits;
  REQUIRE(
      parse_commit_request(with_op(op_json("first", "1")), false, first_arena, limits, first, err));
  REQUIRE(parse_commit_request(with_op(op_json("second", "2")), false, second_arena, limits, second,
                               err));
  CHECK_FALSE(parse_commit_request("{\"x\":1}", false, second_arena, limits, second, err));
  CHECK(err.message == "x: unknown field");
  // Success clears a message left over from an earlier failure.
  REQUIRE(parse_commit_request("{}", false, second_arena, limits, second, err));
  CHECK(err.message.empty());
  CHECK(first.operations[0].key == "first");
  CHECK(first.operations[0].value == "1");
  // An empty view with no buffer at all is malformed JSON, not a crash.
  CHECK_FALSE(parse_commit_request(std::string_view(), true, second_arena, limits, second, err));
  CHECK(err.message.find("invalid JSON (") == 0);
}

TEST_CASE("commit parser: threads parse concurrently with their own parsers") {
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  std::latch start(kThreads);
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string key = "thread-" + std::to_string(t);
      const std::string json = with_op(op_json(key, std::string(100, static_cast<char>('a' + t))));
      const CommitLimits limits;
      Arena arena;
      start.arrive_and_wait();
      for (int round = 0; round < kRounds; ++round) {
        arena.reset();
        CommitRequest request{};
        CommitParseError err;
        const bool ok = parse_commit_request(json, false, arena, limits, request, err);
        if (!ok || request.operations.size() != 1 || request.operations[0].key != key) {
          ++failures[t];
        }
        if (parse_commit_request("{\"bad\":1}", false, arena, limits, request, err) ||
            err.message != "bad: unknown field") {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) CHECK(failures[t] == 0);
}

}  // namespace
}  // namespace weasel
