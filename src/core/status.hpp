#pragma once
// Status and Result<T>: how fallible operations report failure without exceptions (LevelDB's
// shape). A Status is a code plus a human-readable message; Result<T> is a T or a failed
// Status.
//
// Contract
// - A default-constructed Status is ok and carries no message. Failed statuses are made with
//   the named factories; their message says what failed and where (file, offset, field), so
//   it can be shown to an operator as is.
// - Codes are the error vocabulary shared by the modules; code_name() gives the snake_case
//   names SPEC section 5 uses (io_error, corruption, ...).
// - Result<T> holds exactly one of a value or a failed Status: constructing it from an ok
//   Status, or reading value() of a failed Result, is a bug (WEASEL_ASSERT).
// - Both are [[nodiscard]]: ignoring an error must be spelled out.
//
// Ownership: plain values; the message is owned (std::string). Not thread-safe to mutate one
// instance from several threads; copies are independent.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/assert.hpp"

namespace weasel {

enum class StatusCode : uint8_t {
  kOk,
  kNotFound,
  kInvalidArgument,
  kCorruption,
  kIoError,
  kResourceExhausted,  // out of disk space, quota, file descriptors
  kBusy,               // held by someone else (a lock, a concurrent user)
  kLogTruncated,       // the history asked for is older than what is retained
  kUnavailable,        // the component is in a failed state and refuses work
};

inline const char* code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kIoError:
      return "io_error";
    case StatusCode::kResourceExhausted:
      return "resource_exhausted";
    case StatusCode::kBusy:
      return "busy";
    case StatusCode::kLogTruncated:
      return "log_truncated";
    case StatusCode::kUnavailable:
      return "unavailable";
  }
  return "unknown";
}

class [[nodiscard]] Status {
 public:
  Status() = default;

  static Status not_found(std::string message) {
    return {StatusCode::kNotFound, std::move(message)};
  }
  static Status invalid_argument(std::string message) {
    return {StatusCode::kInvalidArgument, std::move(message)};
  }
  static Status corruption(std::string message) {
    return {StatusCode::kCorruption, std::move(message)};
  }
  static Status io_error(std::string message) { return {StatusCode::kIoError, std::move(message)}; }
  static Status resource_exhausted(std::string message) {
    return {StatusCode::kResourceExhausted, std::move(message)};
  }
  static Status busy(std::string message) { return {StatusCode::kBusy, std::move(message)}; }
  static Status log_truncated(std::string message) {
    return {StatusCode::kLogTruncated, std::move(message)};
  }
  static Status unavailable(std::string message) {
    return {StatusCode::kUnavailable, std::move(message)};
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "ok", or "<code_name>: <message>".
  std::string to_string() const {
    if (ok()) return "ok";
    std::string s = code_name(code_);
    s += ": ";
    s += message_;
    return s;
  }

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {
    WEASEL_ASSERT(code != StatusCode::kOk);
  }

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    WEASEL_ASSERT(!status_.ok());
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  T& value() & {
    WEASEL_ASSERT(ok());
    return *value_;
  }
  const T& value() const& {
    WEASEL_ASSERT(ok());
    return *value_;
  }
  T&& value() && {
    WEASEL_ASSERT(ok());
    return std::move(*value_);
  }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace weasel
