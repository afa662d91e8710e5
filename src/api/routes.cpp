#include "api/routes.hpp"

#include <cstring>

namespace weasel {
namespace {
#include "api/routes_gperf.hpp"

constexpr std::string_view kRetentionPrefix = "/v1/retention/";
}  // namespace

RouteMatch match_route(std::string_view path) {
  RouteMatch m;
  if (path.size() > kRetentionPrefix.size() && path.starts_with(kRetentionPrefix)) {
    m.route = Route::kRetention;
    m.param = path.substr(kRetentionPrefix.size());
    return m;
  }
  const RouteEntry* e = RoutePerfectHash::lookup(path.data(), path.size());
  if (e != nullptr) m.route = static_cast<Route>(e->route);
  return m;
}

std::string_view route_name(Route route) {
  switch (route) {
    case Route::kVersion: return "version";
    case Route::kCommit: return "commit";
    case Route::kStatus: return "status";
    case Route::kSubscribe: return "subscribe";
    case Route::kRetention: return "retention";
    case Route::kRead: return "read";
    case Route::kRange: return "range";
    case Route::kMetrics: return "metrics";
    case Route::kHealth: return "health";
    case Route::kUnmatched: return "unmatched";
  }
  return "unmatched";
}

bool method_allowed(const RouteMatch& match, HttpMethod method, std::string_view& allow) {
  const bool is_get = method == HttpMethod::kGet || method == HttpMethod::kHead;
  switch (match.route) {
    case Route::kCommit:
      allow = "POST";
      return method == HttpMethod::kPost;
    case Route::kRetention:
      if (match.param.empty()) {
        allow = "GET, HEAD";
        return is_get;
      }
      allow = "GET, HEAD, PUT, DELETE";
      return is_get || method == HttpMethod::kPut || method == HttpMethod::kDelete;
    case Route::kUnmatched:
      allow = "";
      return false;
    default:
      allow = "GET, HEAD";
      return is_get;
  }
}

}  // namespace weasel
