#pragma once
// Parses and validates a POST /v1/commit body (SPEC sections 2 and 3) into a CommitRequest.
//
// Contract of parse_commit_request
// - Returns true, fills `out` and clears err.message when the body is valid. Otherwise returns
//   false, leaves `out` unspecified and sets err.message to "<JSON path>: <reason>", e.g.
//   "operations[3].key: invalid base64 at offset 5" or "preconditions[2].version: must not be
//   negative". Malformed JSON reads "<path>: invalid JSON (<detail>)", the path being where
//   parsing stopped ("invalid JSON (...)" alone at the top level).
// - Rules: the body is one JSON object and nothing else (whitespace aside); unknown fields and
//   duplicate fields are errors at every level; each field must have its JSON type; numbers
//   are unsigned integers below 2^53 (no sign, fraction or exponent); keys and values are
//   strict base64 (core/base64.hpp) within CommitLimits; at most max_preconditions and
//   max_operations entries; ranges need begin < end (memcmp order, shorter prefix first)
//   unless "end" is absent; each entry has exactly the fields of its type; read_version is
//   required when some precondition has no version of its own.
// - `json` must be followed by at least simdjson::SIMDJSON_PADDING readable bytes when
//   `padded` is true (they are read, never written); otherwise it is first copied into the
//   arena with padding.
// - Allocation: everything `out` points to is in `arena` (decoded keys and values are written
//   there directly; nothing is allocated per key). The parser itself reuses per-thread
//   buffers: parse_commit_request keeps one simdjson::ondemand::parser and one
//   CommitRequestBuilder per calling thread (thread_local), grown to the largest body seen
//   on that thread and never shrunk (about 6 bytes per body byte, so ~6 MiB per thread for
//   the 1 MiB body limit); steady-state parsing does no heap allocation outside the arena.
//   Error messages are the only std::string. When `padded` is false the arena also holds the
//   copy of the body.
//
// CommitRequestBuilder is the JSON-library-independent half: it receives the values of a
// commit body as events (any JSON parser can drive it, pull or push), applies every rule and
// assembles the request (commit_builder.cpp). parse_commit_request drives it with simdjson
// On-Demand (commit_parser.cpp); the benchmark drives the same builder with nlohmann::json and
// RapidJSON to compare JSON parsers on equal terms.
//
// Thread-safety: parse_commit_request is safe to call concurrently from any number of threads
// (with distinct arenas). A CommitRequestBuilder is used by one thread at a time.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "commit/commit_request.hpp"
#include "core/arena.hpp"

namespace weasel {

struct CommitParseError {
  std::string message;
};

bool parse_commit_request(std::string_view json, bool padded, Arena& arena,
                          const CommitLimits& limits, CommitRequest& out, CommitParseError& err);

// How the JSON layer classified a number token.
enum class JsonNumber : uint8_t {
  kUnsigned,    // an integer in [0, 2^64) without fraction or exponent: `value` holds it
  kNegative,    // starts with '-'
  kNotInteger,  // has a fraction or an exponent
  kTooLarge,    // an integer of 2^64 or more
  kInvalid,     // not a valid JSON number
};

// Event-driven validator and assembler of a CommitRequest. Usage: start(), then the events of
// one document in order, then finish(). Every event returns false once the request is known
// to be invalid (err.message is set; stop feeding events). The builder checks the JSON type of
// each value against its field, so a push parser can forward events blindly; a pull parser
// may ask expected() which accessor to use.
class CommitRequestBuilder {
 public:
  enum class Expect : uint8_t { kString, kNumber, kArray };

  CommitRequestBuilder() = default;
  CommitRequestBuilder(const CommitRequestBuilder&) = delete;
  CommitRequestBuilder& operator=(const CommitRequestBuilder&) = delete;

  // Begins a request. The three references must stay valid until finish() or the last event.
  void start(Arena& arena, const CommitLimits& limits, CommitParseError& err);

  // The document is not a JSON object.
  bool root_not_object();
  // Malformed JSON at the current position; `detail` comes from the JSON library.
  bool json_error(std::string_view detail);

  // Fields of the top-level object: a key (unescaped), then exactly one value event.
  bool top_key(std::string_view name);
  bool top_string(std::string_view s);
  bool top_number(JsonNumber kind, uint64_t value);
  bool top_array_begin();  // then item events, then top_array_end()
  bool top_other();        // true, false, null or an object
  void top_array_end();

  // Elements of the array opened by top_array_begin(). item_begin() comes first for every
  // element, whatever its type; then item_not_object(), or the element's fields (a key and
  // one value each) and item_end().
  bool item_begin();
  bool item_not_object();
  bool item_key(std::string_view name);
  bool item_string(std::string_view s);
  bool item_number(JsonNumber kind, uint64_t value);
  bool item_other();  // true, false, null, an object or an array
  bool item_end();

  // After the top-level object closed and nothing but whitespace followed it.
  bool finish(CommitRequest& out);

  // The JSON type the value of the field just keyed must have.
  Expect expected() const;

 private:
  enum class Section : uint8_t { kNone, kPreconditions, kOperations };
  struct Pending {  // the array element being read
    uint32_t seen_fields;
    int8_t type;  // Precondition::Type or Operation::Type, -1 until "type" is read
    std::string_view key;
    std::string_view end;
    std::string_view value;
    uint64_t version;
  };

  bool fail_top(std::string_view field, std::string_view reason);
  bool fail_item(std::string_view field, std::string_view reason);
  bool fail_wrong_type();
  bool decode_bytes(int field, std::string_view base64, std::string_view& decoded);
  bool item_type(std::string_view s);
  void end_precondition();  // appends pending_, already validated
  void end_operation();
  std::string item_path(std::string_view field) const;

  Arena* arena_ = nullptr;
  const CommitLimits* limits_ = nullptr;
  CommitParseError* err_ = nullptr;
  CommitRequest request_{};
  uint32_t seen_top_ = 0;
  int top_field_ = -1;  // the top-level field being read, -1 before the first key
  Section section_ = Section::kNone;
  bool in_item_ = false;
  int item_field_ = -1;  // the element field being read, -1 before its first key
  size_t item_index_ = 0;
  bool precondition_without_version_ = false;
  Pending pending_{};
  // Reused across requests (per thread), then copied into the arena at exact size.
  std::vector<Precondition> preconditions_;
  std::vector<Operation> operations_;
};

}  // namespace weasel
