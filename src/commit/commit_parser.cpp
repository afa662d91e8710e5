// parse_commit_request: drives CommitRequestBuilder with simdjson On-Demand
// (see commit_parser.hpp).
//
// Why strings are read from the raw token: base64 never needs JSON escapes, so a string
// without a backslash is decoded straight from the request buffer into the arena; only a
// string with escapes is unescaped first (into the simdjson parser's own buffer).

#include "commit/commit_parser.hpp"

#include <simdjson.h>

#include <cstring>
#include <utility>

#include "core/assert.hpp"

namespace weasel {
namespace {

namespace ondemand = simdjson::ondemand;
using simdjson::error_code;

struct ThreadState {
  ondemand::parser parser;
  CommitRequestBuilder builder;
};

// One per thread: the simdjson parser and the builder's vectors keep their capacity across
// requests, so parsing does not allocate once warmed up.
ThreadState& thread_state() {
  thread_local ThreadState state;
  return state;
}

class Driver {
 public:
  Driver(CommitRequestBuilder& builder, const char* json_end) : b_(builder), json_end_(json_end) {}

  bool run(ondemand::parser& parser, std::string_view json, CommitRequest& out);

 private:
  bool json_error(error_code e) { return b_.json_error(simdjson::error_message(e)); }
  bool field_name(ondemand::field& field, std::string_view& name);
  error_code string_content(ondemand::value& value, std::string_view& content);
  error_code number(ondemand::value& value, JsonNumber& kind, uint64_t& number);
  bool top_value(ondemand::value& value);
  bool items(ondemand::value& value);
  bool item(ondemand::value& value);
  bool item_value(ondemand::value& value);

  CommitRequestBuilder& b_;
  const char* json_end_;
};

bool Driver::run(ondemand::parser& parser, std::string_view json, CommitRequest& out) {
  ondemand::document doc;
  error_code e =
      parser.iterate(json.data(), json.size(), json.size() + simdjson::SIMDJSON_PADDING).get(doc);
  if (e) return json_error(e);
  ondemand::object root;
  e = doc.get_object().get(root);
  if (e == simdjson::INCORRECT_TYPE) return b_.root_not_object();
  if (e) return json_error(e);
  for (auto field_result : root) {
    // By reference: copying simdjson's iterator state costs a store-forwarding stall.
    if ((e = field_result.error())) return json_error(e);
    ondemand::field& field = field_result.value_unsafe();
    std::string_view name;
    if (!field_name(field, name)) return false;
    if (!b_.top_key(name)) return false;
    if (!top_value(field.value())) return false;
  }
  // simdjson 3.0.1 has no document::at_end(): a location exists only before the end.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return b_.json_error("content after the top-level object");
  }
  return b_.finish(out);
}

// `quoted` is a name and its closing quote; comparing it in one fixed-size memcmp lets the
// compiler turn it into a couple of integer compares.
template <size_t N>
bool starts_with_quoted(const char* raw, const char (&quoted)[N], std::string_view& name) {
  if (std::memcmp(raw, quoted, N - 1) != 0) return false;
  name = {raw, N - 2};
  return true;
}

// Recognizes the field names of a commit body from the raw bytes after the opening quote,
// without searching for the closing quote: `name"` at the start can only be that name,
// unescaped (the quote follows a letter, so it closes the string). Reads at most 14 bytes,
// which the padding after the body makes safe.
bool known_name(const char* raw, std::string_view& name) {
  switch (raw[0]) {
    case 't':
      return starts_with_quoted(raw, "type\"", name);
    case 'k':
      return starts_with_quoted(raw, "key\"", name);
    case 'v':
      return starts_with_quoted(raw, "value\"", name) || starts_with_quoted(raw, "version\"", name);
    case 'b':
      return starts_with_quoted(raw, "begin\"", name);
    case 'e':
      return starts_with_quoted(raw, "end\"", name);
    case 'o':
      return starts_with_quoted(raw, "operations\"", name);
    case 'p':
      return starts_with_quoted(raw, "preconditions\"", name);
    case 'r':
      return starts_with_quoted(raw, "request_id\"", name) ||
             starts_with_quoted(raw, "read_version\"", name);
    case 'l':
      return starts_with_quoted(raw, "leader_id\"", name);
    default:
      return false;
  }
}

// Other names (unknown ones, or escaped spellings of known ones) take the slow path: find the
// closing quote, and let simdjson unescape a name that has a backslash.
bool Driver::field_name(ondemand::field& field, std::string_view& name) {
  const char* start = field.key().raw();
  if (known_name(start, name)) return true;
  for (const char* p = start; p < json_end_; ++p) {
    if (*p == '"') {
      name = {start, static_cast<size_t>(p - start)};
      return true;
    }
    if (*p == '\\') break;
  }
  error_code e = field.unescaped_key().get(name);
  return e ? json_error(e) : true;
}

error_code Driver::string_content(ondemand::value& value, std::string_view& content) {
  const std::string_view token = value.raw_json_token();
  if (token.empty() || token.front() != '"') return simdjson::INCORRECT_TYPE;
  // The token is the string and the whitespace after it, so its last quote closes it.
  const size_t close = token.rfind('"');
  WEASEL_ASSERT(close != 0 && close != std::string_view::npos);
  const std::string_view raw = token.substr(1, close - 1);
  if (std::memchr(raw.data(), '\\', raw.size()) != nullptr) return value.get_string().get(content);
  ondemand::raw_json_string consumed;
  SIMDJSON_TRY(value.get_raw_json_string().get(consumed));
  content = raw;
  return simdjson::SUCCESS;
}

enum class NumberShape : uint8_t { kInvalid, kInteger, kFractionOrExponent };

// The JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
NumberShape number_shape(std::string_view t) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > start;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return NumberShape::kInvalid;
  }
  bool integer = true;
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return NumberShape::kInvalid;
    integer = false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return NumberShape::kInvalid;
    integer = false;
  }
  if (i != t.size()) return NumberShape::kInvalid;
  return integer ? NumberShape::kInteger : NumberShape::kFractionOrExponent;
}

// INCORRECT_TYPE when the value is not a number at all; otherwise SUCCESS with `kind` set.
error_code Driver::number(ondemand::value& value, JsonNumber& kind, uint64_t& number) {
  std::string_view token = value.raw_json_token();
  const char first = token.empty() ? '\0' : token.front();
  if (first != '-' && (first < '0' || first > '9')) return simdjson::INCORRECT_TYPE;
  if (!value.get_uint64().get(number)) {
    kind = JsonNumber::kUnsigned;
    return simdjson::SUCCESS;
  }
  // Why it failed, from the token itself (simdjson's error codes do not tell these apart).
  token = token.substr(0, token.find_last_not_of(" \t\r\n") + 1);
  const NumberShape shape = number_shape(token);
  if (shape == NumberShape::kInvalid) {
    kind = JsonNumber::kInvalid;
  } else if (first == '-') {
    kind = JsonNumber::kNegative;
  } else if (shape == NumberShape::kFractionOrExponent) {
    kind = JsonNumber::kNotInteger;
  } else {
    kind = JsonNumber::kTooLarge;  // a well-formed unsigned integer simdjson could not hold
  }
  return simdjson::SUCCESS;
}

bool Driver::top_value(ondemand::value& value) {
  switch (b_.expected()) {
    case CommitRequestBuilder::Expect::kString: {
      std::string_view s;
      const error_code e = string_content(value, s);
      if (e == simdjson::INCORRECT_TYPE) return b_.top_other();
      return e ? json_error(e) : b_.top_string(s);
    }
    case CommitRequestBuilder::Expect::kNumber: {
      JsonNumber kind;
      uint64_t number = 0;
      const error_code e = this->number(value, kind, number);
      if (e == simdjson::INCORRECT_TYPE) return b_.top_other();
      return e ? json_error(e) : b_.top_number(kind, number);
    }
    case CommitRequestBuilder::Expect::kArray:
      return items(value);
  }
  return false;
}

bool Driver::items(ondemand::value& value) {
  ondemand::array array;
  error_code e = value.get_array().get(array);
  if (e == simdjson::INCORRECT_TYPE) return b_.top_other();
  if (e) return json_error(e);
  if (!b_.top_array_begin()) return false;
  for (auto element_result : array) {
    if ((e = element_result.error())) return json_error(e);
    ondemand::value& element = element_result.value_unsafe();
    if (!item(element)) return false;
  }
  b_.top_array_end();
  return true;
}

bool Driver::item(ondemand::value& value) {
  if (!b_.item_begin()) return false;
  ondemand::object object;
  error_code e = value.get_object().get(object);
  if (e == simdjson::INCORRECT_TYPE) return b_.item_not_object();
  if (e) return json_error(e);
  for (auto field_result : object) {
    if ((e = field_result.error())) return json_error(e);
    ondemand::field& field = field_result.value_unsafe();
    std::string_view name;
    if (!field_name(field, name)) return false;
    if (!b_.item_key(name)) return false;
    if (!item_value(field.value())) return false;
  }
  return b_.item_end();
}

bool Driver::item_value(ondemand::value& value) {
  if (b_.expected() == CommitRequestBuilder::Expect::kNumber) {
    JsonNumber kind;
    uint64_t number = 0;
    const error_code e = this->number(value, kind, number);
    if (e == simdjson::INCORRECT_TYPE) return b_.item_other();
    return e ? json_error(e) : b_.item_number(kind, number);
  }
  std::string_view s;
  const error_code e = string_content(value, s);
  if (e == simdjson::INCORRECT_TYPE) return b_.item_other();
  return e ? json_error(e) : b_.item_string(s);
}

}  // namespace

bool parse_commit_request(std::string_view json, bool padded, Arena& arena,
                          const CommitLimits& limits, CommitRequest& out, CommitParseError& err) {
  ThreadState& state = thread_state();
  state.builder.start(arena, limits, err);
  if (!padded || json.data() == nullptr) {  // an empty view may have no buffer at all
    char* copy = static_cast<char*>(arena.allocate(json.size() + simdjson::SIMDJSON_PADDING, 1));
    if (!json.empty()) std::memcpy(copy, json.data(), json.size());
    std::memset(copy + json.size(), 0, simdjson::SIMDJSON_PADDING);
    json = {copy, json.size()};
  }
  Driver driver(state.builder, json.data() + json.size());
  return driver.run(state.parser, json, out);
}

}  // namespace weasel
