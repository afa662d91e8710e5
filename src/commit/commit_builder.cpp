// CommitRequestBuilder: the commit body rules, independent of any JSON library
// (see commit_parser.hpp).

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <string>

#include "commit/commit_parser.hpp"
#include "core/assert.hpp"
#include "core/base64.hpp"

namespace weasel {
namespace {

enum TopField : int { kRequestId, kLeaderId, kReadVersion, kPreconditions, kOperations };
constexpr std::string_view kTopNames[] = {"request_id", "leader_id", "read_version",
                                          "preconditions", "operations"};

enum ItemField : int { kType, kKey, kBegin, kEnd, kValue, kVersion };
constexpr std::string_view kItemNames[] = {"type", "key", "begin", "end", "value", "version"};

constexpr uint32_t bit(int field) {
  return uint32_t{1} << field;
}

// Placeholder for "no version of its own" until finish() knows read_version. Real versions
// are below 2^53, so it can never collide.
constexpr uint64_t kNoVersion = UINT64_MAX;

template <size_t N>
bool equals(std::string_view name, const char (&literal)[N]) {
  return name.size() == N - 1 && std::memcmp(name.data(), literal, N - 1) == 0;
}

// Dispatch on the length first: at most two fixed-size compares per name.
int top_field_of(std::string_view name) {
  switch (name.size()) {
    case 9:
      return equals(name, "leader_id") ? kLeaderId : -1;
    case 10:
      return equals(name, "request_id")   ? kRequestId
             : equals(name, "operations") ? kOperations
                                          : -1;
    case 12:
      return equals(name, "read_version") ? kReadVersion : -1;
    case 13:
      return equals(name, "preconditions") ? kPreconditions : -1;
    default:
      return -1;
  }
}

int item_field_of(std::string_view name) {
  switch (name.size()) {
    case 3:
      return equals(name, "key") ? kKey : equals(name, "end") ? kEnd : -1;
    case 4:
      return equals(name, "type") ? kType : -1;
    case 5:
      return equals(name, "value") ? kValue : equals(name, "begin") ? kBegin : -1;
    case 7:
      return equals(name, "version") ? kVersion : -1;
    default:
      return -1;
  }
}

// Unknown names are echoed in messages only when short and unsurprising: a message must not
// carry arbitrary client bytes.
bool is_plain_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

bool is_request_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

// nullptr when `kind`/`value` is a valid version.
const char* version_problem(JsonNumber kind, uint64_t value) {
  switch (kind) {
    case JsonNumber::kUnsigned:
      return value < kMaxJsonVersionExclusive ? nullptr : "must be less than 2^53";
    case JsonNumber::kTooLarge:
      return "must be less than 2^53";
    case JsonNumber::kNegative:
      return "must not be negative";
    case JsonNumber::kNotInteger:
      return "must be an integer";
    case JsonNumber::kInvalid:
      return "invalid number";
  }
  return "invalid number";
}

// memcmp order, a proper prefix first: a range is valid only when begin < end.
bool key_less(std::string_view a, std::string_view b) {
  const size_t common = std::min(a.size(), b.size());
  const int c = common == 0 ? 0 : std::memcmp(a.data(), b.data(), common);  // data() may be null
  return c < 0 || (c == 0 && a.size() < b.size());
}

}  // namespace

std::string check_request_id(std::string_view id, const CommitLimits& limits) {
  if (id.size() < limits.min_request_id_length || id.size() > limits.max_request_id_length) {
    return "length must be between " + std::to_string(limits.min_request_id_length) + " and " +
           std::to_string(limits.max_request_id_length);
  }
  const auto bad = std::find_if_not(id.begin(), id.end(), is_request_id_char);
  if (bad != id.end()) {
    return "character " + std::to_string(bad - id.begin()) + " is not one of A-Z a-z 0-9 . _ : -";
  }
  return {};
}

void CommitRequestBuilder::start(Arena& arena, const CommitLimits& limits, CommitParseError& err) {
  arena_ = &arena;
  limits_ = &limits;
  err_ = &err;
  err.message.clear();  // so that success leaves no stale message behind
  request_ = CommitRequest{};
  seen_top_ = 0;
  top_field_ = -1;
  section_ = Section::kNone;
  in_item_ = false;
  item_field_ = -1;
  item_index_ = 0;
  precondition_without_version_ = false;
  preconditions_.clear();
  operations_.clear();
}

bool CommitRequestBuilder::fail_top(std::string_view field, std::string_view reason) {
  err_->message.assign(field);
  err_->message.append(": ").append(reason);
  return false;
}

std::string CommitRequestBuilder::item_path(std::string_view field) const {
  std::string path(section_ == Section::kPreconditions ? "preconditions[" : "operations[");
  path.append(std::to_string(item_index_)).append("]");
  if (!field.empty()) path.append(".").append(field);
  return path;
}

bool CommitRequestBuilder::fail_item(std::string_view field, std::string_view reason) {
  err_->message = item_path(field);
  err_->message.append(": ").append(reason);
  return false;
}

bool CommitRequestBuilder::root_not_object() {
  return fail_top("request body", "must be a JSON object");
}

bool CommitRequestBuilder::json_error(std::string_view detail) {
  std::string reason("invalid JSON (");
  reason.append(detail).append(")");
  if (in_item_) return fail_item(item_field_ >= 0 ? kItemNames[item_field_] : "", reason);
  if (top_field_ >= 0) return fail_top(kTopNames[top_field_], reason);
  err_->message = std::move(reason);
  return false;
}

CommitRequestBuilder::Expect CommitRequestBuilder::expected() const {
  if (in_item_) return item_field_ == kVersion ? Expect::kNumber : Expect::kString;
  switch (top_field_) {
    case kReadVersion:
      return Expect::kNumber;
    case kPreconditions:
    case kOperations:
      return Expect::kArray;
    default:
      return Expect::kString;
  }
}

bool CommitRequestBuilder::fail_wrong_type() {
  const char* reason = "must be a string";
  if (expected() == Expect::kNumber) reason = "must be an unsigned integer";
  if (expected() == Expect::kArray) reason = "must be an array";
  if (in_item_) return fail_item(kItemNames[item_field_], reason);
  return fail_top(kTopNames[top_field_], reason);
}

bool CommitRequestBuilder::top_key(std::string_view name) {
  WEASEL_ASSERT(section_ == Section::kNone && !in_item_);
  const int field = top_field_of(name);
  if (field < 0) {
    return fail_top(is_plain_name(name) ? name : "request body", "unknown field");
  }
  if ((seen_top_ & bit(field)) != 0) return fail_top(kTopNames[field], "duplicate field");
  seen_top_ |= bit(field);
  top_field_ = field;
  return true;
}

bool CommitRequestBuilder::top_string(std::string_view s) {
  WEASEL_ASSERT(top_field_ >= 0 && section_ == Section::kNone);
  if (top_field_ == kLeaderId) {
    request_.leader_id = arena_->copy(s);
    request_.has_leader_id = true;
    return true;
  }
  if (top_field_ != kRequestId) return fail_wrong_type();
  if (std::string problem = check_request_id(s, *limits_); !problem.empty()) {
    return fail_top("request_id", problem);
  }
  request_.request_id = arena_->copy(s);
  return true;
}

bool CommitRequestBuilder::top_number(JsonNumber kind, uint64_t value) {
  WEASEL_ASSERT(top_field_ >= 0 && section_ == Section::kNone);
  if (top_field_ != kReadVersion) return fail_wrong_type();
  if (const char* problem = version_problem(kind, value)) return fail_top("read_version", problem);
  request_.read_version = value;
  request_.has_read_version = true;
  return true;
}

bool CommitRequestBuilder::top_array_begin() {
  WEASEL_ASSERT(top_field_ >= 0 && section_ == Section::kNone);
  if (top_field_ == kPreconditions) {
    section_ = Section::kPreconditions;
  } else if (top_field_ == kOperations) {
    section_ = Section::kOperations;
  } else {
    return fail_wrong_type();
  }
  return true;
}

bool CommitRequestBuilder::top_other() {
  WEASEL_ASSERT(top_field_ >= 0 && section_ == Section::kNone);
  return fail_wrong_type();
}

void CommitRequestBuilder::top_array_end() {
  WEASEL_ASSERT(section_ != Section::kNone && !in_item_);
  section_ = Section::kNone;
}

bool CommitRequestBuilder::item_begin() {
  WEASEL_ASSERT(section_ != Section::kNone && !in_item_);
  const bool pre = section_ == Section::kPreconditions;
  const size_t count = pre ? preconditions_.size() : operations_.size();
  const size_t max = pre ? limits_->max_preconditions : limits_->max_operations;
  if (count >= max) {
    return fail_top(kTopNames[top_field_], "more than " + std::to_string(max) + " entries");
  }
  item_index_ = count;
  in_item_ = true;
  item_field_ = -1;
  pending_ = Pending{0, -1, {}, {}, {}, kNoVersion};
  return true;
}

bool CommitRequestBuilder::item_not_object() {
  WEASEL_ASSERT(in_item_ && item_field_ < 0);
  return fail_item("", "must be an object");
}

bool CommitRequestBuilder::item_key(std::string_view name) {
  WEASEL_ASSERT(in_item_);
  const int field = item_field_of(name);
  const int foreign = section_ == Section::kPreconditions ? kValue : kVersion;
  if (field < 0 || field == foreign) {
    return fail_item(is_plain_name(name) ? name : "", "unknown field");
  }
  if ((pending_.seen_fields & bit(field)) != 0) {
    return fail_item(kItemNames[field], "duplicate field");
  }
  pending_.seen_fields |= bit(field);
  item_field_ = field;
  return true;
}

bool CommitRequestBuilder::decode_bytes(int field, std::string_view base64,
                                        std::string_view& decoded) {
  const size_t limit = field == kValue ? limits_->max_value_bytes : limits_->max_key_bytes;
  // Checked before decoding so that the work stays bounded by the limit.
  if (base64.size() > base64_encoded_size(limit)) {
    return fail_item(kItemNames[field], "larger than " + std::to_string(limit) + " bytes");
  }
  if (base64.empty()) {
    decoded = {};
    return true;
  }
  char* out = static_cast<char*>(arena_->allocate(base64_decoded_size_max(base64.size()), 1));
  size_t error_offset = 0;
  const ptrdiff_t size = base64_decode(base64, out, &error_offset);
  if (size < 0) {
    return fail_item(kItemNames[field], "invalid base64 at offset " + std::to_string(error_offset));
  }
  if (static_cast<size_t>(size) > limit) {
    return fail_item(kItemNames[field], "larger than " + std::to_string(limit) + " bytes");
  }
  decoded = {out, static_cast<size_t>(size)};
  return true;
}

bool CommitRequestBuilder::item_type(std::string_view s) {
  if (section_ == Section::kPreconditions) {
    if (s == "point_read") {
      pending_.type = static_cast<int8_t>(Precondition::Type::kPointRead);
    } else if (s == "range_read") {
      pending_.type = static_cast<int8_t>(Precondition::Type::kRangeRead);
    } else {
      return fail_item("type", "must be \"point_read\" or \"range_read\"");
    }
    return true;
  }
  if (s == "write") {
    pending_.type = static_cast<int8_t>(Operation::Type::kWrite);
  } else if (s == "delete") {
    pending_.type = static_cast<int8_t>(Operation::Type::kDelete);
  } else if (s == "range_delete") {
    pending_.type = static_cast<int8_t>(Operation::Type::kRangeDelete);
  } else {
    return fail_item("type", "must be \"write\", \"delete\" or \"range_delete\"");
  }
  return true;
}

bool CommitRequestBuilder::item_string(std::string_view s) {
  WEASEL_ASSERT(in_item_ && item_field_ >= 0);
  switch (item_field_) {
    case kType:
      return item_type(s);
    case kKey:
    case kBegin:  // both name the first key; end_*() rejects the one the type does not use
      return decode_bytes(item_field_, s, pending_.key);
    case kEnd:
      return decode_bytes(item_field_, s, pending_.end);
    case kValue:
      return decode_bytes(item_field_, s, pending_.value);
    default:
      return fail_wrong_type();
  }
}

bool CommitRequestBuilder::item_number(JsonNumber kind, uint64_t value) {
  WEASEL_ASSERT(in_item_ && item_field_ >= 0);
  if (item_field_ != kVersion) return fail_wrong_type();
  if (const char* problem = version_problem(kind, value)) return fail_item("version", problem);
  pending_.version = value;
  return true;
}

bool CommitRequestBuilder::item_other() {
  WEASEL_ASSERT(in_item_ && item_field_ >= 0);
  return fail_wrong_type();
}

namespace {

struct FieldRule {
  const char* type_name;
  uint32_t allowed;
  uint32_t required;
};

// Index: Precondition::Type.
constexpr FieldRule kPreconditionRules[] = {
    {"point_read", bit(kType) | bit(kKey) | bit(kVersion), bit(kType) | bit(kKey)},
    {"range_read", bit(kType) | bit(kBegin) | bit(kEnd) | bit(kVersion), bit(kType) | bit(kBegin)},
};

// Index: Operation::Type.
constexpr FieldRule kOperationRules[] = {
    {"write", bit(kType) | bit(kKey) | bit(kValue), bit(kType) | bit(kKey) | bit(kValue)},
    {"delete", bit(kType) | bit(kKey), bit(kType) | bit(kKey)},
    {"range_delete", bit(kType) | bit(kBegin) | bit(kEnd), bit(kType) | bit(kBegin)},
};

}  // namespace

bool CommitRequestBuilder::item_end() {
  WEASEL_ASSERT(in_item_);
  if (pending_.type < 0) return fail_item("type", "required");
  const FieldRule& rule = section_ == Section::kPreconditions ? kPreconditionRules[pending_.type]
                                                              : kOperationRules[pending_.type];
  const uint32_t extra = pending_.seen_fields & ~rule.allowed;
  if (extra != 0) {
    return fail_item(kItemNames[std::countr_zero(extra)],
                     std::string("not allowed in a ") + rule.type_name);
  }
  const uint32_t missing = rule.required & ~pending_.seen_fields;
  if (missing != 0) {
    return fail_item(kItemNames[std::countr_zero(missing)],
                     std::string("required in a ") + rule.type_name);
  }
  const bool has_end = (pending_.seen_fields & bit(kEnd)) != 0;
  if (has_end && !key_less(pending_.key, pending_.end)) {
    return fail_item("end", "must be greater than begin");
  }
  if (section_ == Section::kPreconditions) {
    end_precondition();
  } else {
    end_operation();
  }
  in_item_ = false;
  item_field_ = -1;
  return true;
}

void CommitRequestBuilder::end_precondition() {
  const auto type = static_cast<Precondition::Type>(pending_.type);
  const bool range = type == Precondition::Type::kRangeRead;
  if (pending_.version == kNoVersion) precondition_without_version_ = true;
  preconditions_.push_back(Precondition{type, pending_.key, pending_.end,
                                        range && (pending_.seen_fields & bit(kEnd)) == 0,
                                        pending_.version});
}

void CommitRequestBuilder::end_operation() {
  const auto type = static_cast<Operation::Type>(pending_.type);
  const bool range = type == Operation::Type::kRangeDelete;
  operations_.push_back(Operation{type, pending_.key, pending_.value, pending_.end,
                                  range && (pending_.seen_fields & bit(kEnd)) == 0});
}

bool CommitRequestBuilder::finish(CommitRequest& out) {
  WEASEL_ASSERT(section_ == Section::kNone && !in_item_);
  if (precondition_without_version_) {
    if (!request_.has_read_version) {
      return fail_top("read_version", "required when a precondition has no version");
    }
    for (Precondition& p : preconditions_) {
      if (p.version == kNoVersion) p.version = request_.read_version;
    }
  }
  if (!preconditions_.empty()) {
    auto* copy = arena_->allocate_array<Precondition>(preconditions_.size());
    std::uninitialized_copy(preconditions_.begin(), preconditions_.end(), copy);
    request_.preconditions = {copy, preconditions_.size()};
  }
  if (!operations_.empty()) {
    auto* copy = arena_->allocate_array<Operation>(operations_.size());
    std::uninitialized_copy(operations_.begin(), operations_.end(), copy);
    request_.operations = {copy, operations_.size()};
  }
  out = request_;
  return true;
}

}  // namespace weasel
