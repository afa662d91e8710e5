#pragma once
// Query strings of the API (application/x-www-form-urlencoded: `a=1&b=x%2By`): strict
// parsing into decoded name/value pairs. Unknown, repeated or malformed parameters are the
// caller's 400s, named in the message.

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/arena.hpp"

namespace weasel {

struct QueryParam {
  std::string_view name;
  std::string_view value;  // percent-decoded, in the arena
};

// Parses `query` (without the '?') into at most `out.size()` parameters, decoding into the
// arena. Returns the number parsed, or std::nullopt with `error` set (bad escape, too many,
// a parameter not in `allowed`, a repeated parameter).
std::optional<size_t> parse_query(std::string_view query, std::span<const std::string_view> allowed,
                                  Arena& arena, std::span<QueryParam> out, std::string& error);

// Looks a parsed parameter up by name.
std::optional<std::string_view> find_param(std::span<const QueryParam> params,
                                           std::string_view name);

// A version in a query: decimal digits, below 2^53. Empty optional on any other text.
std::optional<uint64_t> parse_version(std::string_view text);

}  // namespace weasel
