// Commit body parsing: simdjson On-Demand (parse_commit_request) vs nlohmann::json and
// RapidJSON doing the same job, side by side in one binary.
//
// Every variant produces the same CommitRequest through the same CommitRequestBuilder, so the
// validation rules (unknown/duplicate fields, types, limits, ranges), the base64 decoder
// (core/base64.hpp) and the output model are identical; only the JSON layer differs. The
// peers use their fastest API that can still see duplicate keys: SAX (nlohmann's DOM keeps
// only the last duplicate). RapidJSON validates UTF-8 (kParseValidateEncodingFlag) because
// simdjson and nlohmann always do. "rapidjson_insitu" additionally lets RapidJSON parse in
// place; its per-request copy of the body is timed, as a server would have to make it.
//
// Bodies: request_id, read_version, one point_read precondition and N writes (16-byte keys,
// 100-byte values), N = 1, 10, 100. bytes_per_second counts body bytes, items_per_second
// counts requests. The arena is reset per request and keeps its first block, as a
// connection's arena does.
//
// Run: ./scripts/build.sh release bench_commit_parse && ./build/release/bench_commit_parse
// Ratios: divide simdjson's items_per_second by each peer's for the same N.

#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <rapidjson/reader.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "commit/commit_parser.hpp"
#include "core/arena.hpp"
#include "core/base64.hpp"

namespace weasel {
namespace {

std::string make_body(int operations) {
  std::mt19937_64 rng(static_cast<uint64_t>(operations));
  auto random_b64 = [&](size_t n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    std::string out;
    base64_encode_append(out, bytes);
    return out;
  };
  std::string body = R"({"request_id":"bench-0123456789abcdef","read_version":123456789,)";
  body += R"("preconditions":[{"type":"point_read","key":")" + random_b64(16) + "\"}],";
  body += R"("operations":[)";
  for (int i = 0; i < operations; ++i) {
    if (i > 0) body += ',';
    body +=
        R"({"type":"write","key":")" + random_b64(16) + R"(","value":")" + random_b64(100) + "\"}";
  }
  return body + "]}";
}

// Maps push-parser events onto the builder. depth_ counts open containers: 1 = the top-level
// object, 2 = a preconditions/operations array, 3 = one of its elements.
class SaxAdapter {
 public:
  explicit SaxAdapter(CommitRequestBuilder& builder) : b_(builder) {}

  bool start_object() {
    switch (depth_++) {
      case 0:
        return true;
      case 1:
        return b_.top_other();
      case 2:
        return b_.item_begin();
      default:
        return b_.item_other();
    }
  }
  bool end_object() {
    --depth_;
    return depth_ == 2 ? b_.item_end() : true;
  }
  bool start_array() {
    switch (depth_++) {
      case 0:
        return b_.root_not_object();
      case 1:
        return b_.top_array_begin();
      case 2:
        return b_.item_begin() && b_.item_not_object();
      default:
        return b_.item_other();
    }
  }
  bool end_array() {
    if (--depth_ == 1) b_.top_array_end();
    return true;
  }
  bool key(std::string_view name) { return depth_ == 1 ? b_.top_key(name) : b_.item_key(name); }
  bool string(std::string_view s) {
    switch (depth_) {
      case 0:
        return b_.root_not_object();
      case 1:
        return b_.top_string(s);
      case 2:
        return b_.item_begin() && b_.item_not_object();
      default:
        return b_.item_string(s);
    }
  }
  bool number(JsonNumber kind, uint64_t value) {
    switch (depth_) {
      case 0:
        return b_.root_not_object();
      case 1:
        return b_.top_number(kind, value);
      case 2:
        return b_.item_begin() && b_.item_not_object();
      default:
        return b_.item_number(kind, value);
    }
  }
  bool other() {  // true, false, null
    switch (depth_) {
      case 0:
        return b_.root_not_object();
      case 1:
        return b_.top_other();
      case 2:
        return b_.item_begin() && b_.item_not_object();
      default:
        return b_.item_other();
    }
  }

 private:
  CommitRequestBuilder& b_;
  int depth_ = 0;
};

JsonNumber classify_float(std::string_view token) {
  if (!token.empty() && token.front() == '-') return JsonNumber::kNegative;
  return token.find_first_of(".eE") == std::string_view::npos ? JsonNumber::kTooLarge
                                                              : JsonNumber::kNotInteger;
}

// nlohmann's SAX concept (nlohmann::json_sax without the virtual calls).
struct NlohmannSax {
  using json = nlohmann::json;
  SaxAdapter& a;
  bool null() { return a.other(); }
  bool boolean(bool) { return a.other(); }
  bool number_integer(json::number_integer_t) { return a.number(JsonNumber::kNegative, 0); }
  bool number_unsigned(json::number_unsigned_t v) { return a.number(JsonNumber::kUnsigned, v); }
  bool number_float(json::number_float_t, const json::string_t& s) {
    return a.number(classify_float(s), 0);
  }
  bool string(json::string_t& s) { return a.string(s); }
  bool binary(json::binary_t&) { return a.other(); }
  bool start_object(std::size_t) { return a.start_object(); }
  bool key(json::string_t& s) { return a.key(s); }
  bool end_object() { return a.end_object(); }
  bool start_array(std::size_t) { return a.start_array(); }
  bool end_array() { return a.end_array(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }
};

struct RapidSax {
  SaxAdapter& a;
  bool Null() { return a.other(); }
  bool Bool(bool) { return a.other(); }
  bool Int(int) { return a.number(JsonNumber::kNegative, 0); }  // only negative values
  bool Uint(unsigned v) { return a.number(JsonNumber::kUnsigned, v); }
  bool Int64(int64_t) { return a.number(JsonNumber::kNegative, 0); }
  bool Uint64(uint64_t v) { return a.number(JsonNumber::kUnsigned, v); }
  bool Double(double d) {  // a fraction, an exponent, or beyond 64 bits
    return a.number(d < 0 ? JsonNumber::kNegative : JsonNumber::kNotInteger, 0);
  }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return a.other(); }
  bool String(const char* s, rapidjson::SizeType n, bool) { return a.string({s, n}); }
  bool StartObject() { return a.start_object(); }
  bool Key(const char* s, rapidjson::SizeType n, bool) { return a.key({s, n}); }
  bool EndObject(rapidjson::SizeType) { return a.end_object(); }
  bool StartArray() { return a.start_array(); }
  bool EndArray(rapidjson::SizeType) { return a.end_array(); }
};

// Same contract as parse_commit_request; the builder and reader are per-parser, reused.
class NlohmannParser {
 public:
  bool parse(std::string_view json, Arena& arena, const CommitLimits& limits, CommitRequest& out,
             CommitParseError& err) {
    builder_.start(arena, limits, err);
    SaxAdapter adapter(builder_);
    NlohmannSax sax{adapter};
    const bool ok = nlohmann::json::sax_parse(json.begin(), json.end(), &sax);
    if (!ok) return err.message.empty() ? builder_.json_error("nlohmann") : false;
    return builder_.finish(out);
  }

 private:
  CommitRequestBuilder builder_;
};

class RapidParser {
 public:
  bool parse(std::string_view json, Arena& arena, const CommitLimits& limits, CommitRequest& out,
             CommitParseError& err) {
    builder_.start(arena, limits, err);
    SaxAdapter adapter(builder_);
    RapidSax sax{adapter};
    rapidjson::MemoryStream stream(json.data(), json.size());
    const auto result = reader_.Parse<kFlags>(stream, sax);
    return finish(result, out, err);
  }

  // In place: RapidJSON unescapes into the buffer, so it gets a copy (mutable, 0-terminated).
  bool parse_insitu(std::string_view json, Arena& arena, const CommitLimits& limits,
                    CommitRequest& out, CommitParseError& err) {
    builder_.start(arena, limits, err);
    char* copy = static_cast<char*>(arena.allocate(json.size() + 1, 1));
    std::memcpy(copy, json.data(), json.size());
    copy[json.size()] = '\0';
    SaxAdapter adapter(builder_);
    RapidSax sax{adapter};
    rapidjson::InsituStringStream stream(copy);
    const auto result = reader_.Parse<kFlags | rapidjson::kParseInsituFlag>(stream, sax);
    return finish(result, out, err);
  }

 private:
  static constexpr unsigned kFlags = rapidjson::kParseValidateEncodingFlag;

  bool finish(const rapidjson::ParseResult& result, CommitRequest& out, CommitParseError& err) {
    if (result.IsError()) return err.message.empty() ? builder_.json_error("rapidjson") : false;
    return builder_.finish(out);
  }

  rapidjson::Reader reader_;
  CommitRequestBuilder builder_;
};

// A body string with simdjson's padding readable after it, like a connection's read buffer.
struct Body {
  explicit Body(int operations) : text(make_body(operations)) {
    text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  }
  std::string text;
};

constexpr size_t kArenaFirstBlockBytes = 256 * 1024;

template <class Parse>
void run(benchmark::State& state, const std::string& body, Parse&& parse) {
  Arena arena(kArenaFirstBlockBytes);
  const CommitLimits limits;
  CommitParseError err;
  for (auto _ : state) {
    arena.reset();
    CommitRequest request{};
    if (!parse(body, arena, limits, request, err)) {
      state.SkipWithError(err.message.c_str());
      return;
    }
    benchmark::DoNotOptimize(request);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["body_bytes"] = static_cast<double>(body.size());
}

void BM_simdjson(benchmark::State& state) {
  const Body body(static_cast<int>(state.range(0)));
  run(state, body.text,
      [](std::string_view json, Arena& arena, const CommitLimits& limits, CommitRequest& out,
         CommitParseError& err) {
        return parse_commit_request(json, true, arena, limits, out, err);
      });
}

// The caller has no padding: the parser copies the body into the arena first.
void BM_simdjson_copy(benchmark::State& state) {
  const Body body(static_cast<int>(state.range(0)));
  run(state, body.text,
      [](std::string_view json, Arena& arena, const CommitLimits& limits, CommitRequest& out,
         CommitParseError& err) {
        return parse_commit_request(json, false, arena, limits, out, err);
      });
}

void BM_nlohmann(benchmark::State& state) {
  const Body body(static_cast<int>(state.range(0)));
  NlohmannParser parser;
  run(state, body.text,
      [&](std::string_view json, Arena& arena, const CommitLimits& limits, CommitRequest& out,
          CommitParseError& err) { return parser.parse(json, arena, limits, out, err); });
}

void BM_rapidjson(benchmark::State& state) {
  const Body body(static_cast<int>(state.range(0)));
  RapidParser parser;
  run(state, body.text,
      [&](std::string_view json, Arena& arena, const CommitLimits& limits, CommitRequest& out,
          CommitParseError& err) { return parser.parse(json, arena, limits, out, err); });
}

void BM_rapidjson_insitu(benchmark::State& state) {
  const Body body(static_cast<int>(state.range(0)));
  RapidParser parser;
  run(state, body.text,
      [&](std::string_view json, Arena& arena, const CommitLimits& limits, CommitRequest& out,
          CommitParseError& err) { return parser.parse_insitu(json, arena, limits, out, err); });
}

// The decoder alone, on the value size of the commit benchmark and on a large value.
void BM_base64_decode(benchmark::State& state) {
  std::string bytes(static_cast<size_t>(state.range(0)), '\0');
  std::mt19937_64 rng(1);
  for (char& c : bytes) c = static_cast<char>(rng());
  std::string encoded;
  base64_encode_append(encoded, bytes);
  std::vector<char> out(base64_decoded_size_max(encoded.size()));
  for (auto _ : state) {
    benchmark::DoNotOptimize(base64_decode(encoded, out.data()));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * encoded.size()));
}

#define WEASEL_PARSE_BENCH(fn) BENCHMARK(fn)->ArgName("ops")->Arg(1)->Arg(10)->Arg(100)
WEASEL_PARSE_BENCH(BM_simdjson);
WEASEL_PARSE_BENCH(BM_simdjson_copy);
WEASEL_PARSE_BENCH(BM_nlohmann);
WEASEL_PARSE_BENCH(BM_rapidjson);
WEASEL_PARSE_BENCH(BM_rapidjson_insitu);
BENCHMARK(BM_base64_decode)->Arg(16)->Arg(100)->Arg(100000);

bool same_request(const CommitRequest& a, const CommitRequest& b) {
  if (a.request_id != b.request_id || a.read_version != b.read_version ||
      a.has_read_version != b.has_read_version ||
      a.preconditions.size() != b.preconditions.size() ||
      a.operations.size() != b.operations.size()) {
    return false;
  }
  for (size_t i = 0; i < a.preconditions.size(); ++i) {
    const Precondition& x = a.preconditions[i];
    const Precondition& y = b.preconditions[i];
    if (x.type != y.type || x.key != y.key || x.version != y.version) return false;
  }
  for (size_t i = 0; i < a.operations.size(); ++i) {
    const Operation& x = a.operations[i];
    const Operation& y = b.operations[i];
    if (x.type != y.type || x.key != y.key || x.value != y.value) return false;
  }
  return true;
}

// Refuses to report figures unless the three parsers agree on valid and invalid bodies.
void check_parsers_agree() {
  const CommitLimits limits;
  NlohmannParser nlohmann_parser;
  RapidParser rapid_parser;
  const std::string bodies[] = {
      make_body(1),
      make_body(100),
      R"({"operations":[],"operations":[]})",
      R"({"read_version":-1})",
      R"({"read_version":1.5})",
      R"({"operations":[{"type":"write","key":"YQ=","value":""}]})",
      R"({"preconditions":[{"type":"point_read","key":""}]})",
      R"({"operations":[{"type":"delete","key":"","key":""}]})",
      R"({"operations":[{"type":"range_delete","begin":"Yg==","end":"YQ=="}]})",
      R"({"extra":1})",
      R"([])",
      R"({} x)",
  };
  for (const std::string& body : bodies) {
    Arena a1, a2, a3;
    CommitRequest r1{}, r2{}, r3{};
    CommitParseError e1, e2, e3;
    const bool ok1 = parse_commit_request(body, false, a1, limits, r1, e1);
    const bool ok2 = nlohmann_parser.parse(body, a2, limits, r2, e2);
    const bool ok3 = rapid_parser.parse(body, a3, limits, r3, e3);
    const bool agree =
        ok1 == ok2 && ok1 == ok3 && (!ok1 || (same_request(r1, r2) && same_request(r1, r3)));
    if (!agree) {
      std::fprintf(stderr,
                   "parsers disagree on %.80s: simdjson '%s', nlohmann '%s', rapidjson '%s'\n",
                   body.c_str(), e1.message.c_str(), e2.message.c_str(), e3.message.c_str());
      std::abort();
    }
  }
}

}  // namespace
}  // namespace weasel

int main(int argc, char** argv) {
  weasel::check_parsers_agree();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
