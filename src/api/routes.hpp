#pragma once
// Route table: which path is which endpoint and which methods it allows (SPEC section 3).

#include <cstdint>
#include <string_view>

#include "net/http_parser.hpp"

namespace weasel {

enum class Route : uint8_t {
  kVersion = 0,
  kCommit,
  kStatus,
  kSubscribe,
  kRetention,  // "/v1/retention/" (collection) and "/v1/retention/<id>"
  kRead,
  kRange,
  kMetrics,
  kHealth,
  kUnmatched,  // 404s and requests rejected before routing
};
inline constexpr int kRouteCount = static_cast<int>(Route::kUnmatched) + 1;

struct RouteMatch {
  Route route = Route::kUnmatched;
  std::string_view param;  // the <id> of /v1/retention/<id>, empty for the collection
};

RouteMatch match_route(std::string_view path);
std::string_view route_name(Route route);
// Whether `method` is allowed on the route; `allow` receives the Allow header value.
bool method_allowed(const RouteMatch& match, HttpMethod method, std::string_view& allow);

}  // namespace weasel
