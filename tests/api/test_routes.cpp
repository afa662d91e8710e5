// Route matching (gperf perfect hash + the /v1/retention/<id> prefix) and allowed methods.
#include <doctest/doctest.h>

#include "api/routes.hpp"

using weasel::HttpMethod;
using weasel::Route;

TEST_CASE("every SPEC path maps to its route") {
  CHECK(weasel::match_route("/v1/version").route == Route::kVersion);
  CHECK(weasel::match_route("/v1/commit").route == Route::kCommit);
  CHECK(weasel::match_route("/v1/status").route == Route::kStatus);
  CHECK(weasel::match_route("/v1/subscribe").route == Route::kSubscribe);
  CHECK(weasel::match_route("/v1/read").route == Route::kRead);
  CHECK(weasel::match_route("/v1/range").route == Route::kRange);
  CHECK(weasel::match_route("/metrics").route == Route::kMetrics);
  CHECK(weasel::match_route("/health").route == Route::kHealth);
  const auto collection = weasel::match_route("/v1/retention/");
  CHECK(collection.route == Route::kRetention);
  CHECK(collection.param.empty());
  const auto item = weasel::match_route("/v1/retention/my-policy");
  CHECK(item.route == Route::kRetention);
  CHECK(item.param == "my-policy");
}

TEST_CASE("near misses do not match") {
  for (const char* p : {"", "/", "/v1", "/v1/", "/v1/versio", "/v1/versionx", "/V1/version",
                        "/v1/retention", "/metrics/", "/healthz", "/v2/version"}) {
    CAPTURE(p);
    CHECK(weasel::match_route(p).route == Route::kUnmatched);
  }
  // Not NUL-terminated: the lookup must respect the length.
  const char buf[] = "/healthXYZ";
  CHECK(weasel::match_route(std::string_view(buf, 7)).route == Route::kHealth);
}

TEST_CASE("allowed methods and the Allow header") {
  std::string_view allow;
  CHECK(weasel::method_allowed(weasel::match_route("/v1/commit"), HttpMethod::kPost, allow));
  CHECK_FALSE(weasel::method_allowed(weasel::match_route("/v1/commit"), HttpMethod::kGet, allow));
  CHECK(allow == "POST");
  CHECK(weasel::method_allowed(weasel::match_route("/v1/version"), HttpMethod::kHead, allow));
  CHECK_FALSE(weasel::method_allowed(weasel::match_route("/v1/version"), HttpMethod::kPut, allow));
  CHECK(allow == "GET, HEAD");
  const auto item = weasel::match_route("/v1/retention/p");
  CHECK(weasel::method_allowed(item, HttpMethod::kPut, allow));
  CHECK(weasel::method_allowed(item, HttpMethod::kDelete, allow));
  CHECK_FALSE(weasel::method_allowed(item, HttpMethod::kPost, allow));
  CHECK(allow == "GET, HEAD, PUT, DELETE");
  CHECK_FALSE(weasel::method_allowed(weasel::match_route("/v1/retention/"), HttpMethod::kPut,
                                     allow));
  CHECK(allow == "GET, HEAD");
}
