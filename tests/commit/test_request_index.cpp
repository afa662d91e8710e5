// Tests for RequestIndex (src/commit/request_index.hpp): the entry, version and age limits,
// the horizon below which lookups must go to the log, forget, and bans.
#include <doctest/doctest.h>

#include <string>

#include "commit/request_index.hpp"

namespace weasel {
namespace {

std::string id(int i) { return "request-id-" + std::to_string(i) + "-padding-padding"; }

}  // namespace

TEST_CASE("request index: the entry limit evicts oldest first and raises the horizon") {
  RequestIndex index({.max_entries = 3, .max_versions = 1000, .max_age_ms = 1'000'000}, 5);
  CHECK(index.horizon() == 5);
  for (int i = 1; i <= 5; ++i) index.add_committed(id(i), 10 + i, 0);
  CHECK(index.committed_count() == 3);
  CHECK_FALSE(index.committed_version(id(2)));
  CHECK(index.committed_version(id(3)) == 13);
  CHECK(index.horizon() == 12);  // id 2 at version 12 may be missing now
  // The first commit of an id counts; a second add changes nothing.
  index.add_committed(id(5), 99, 0);
  CHECK(index.committed_version(id(5)) == 15);
}

TEST_CASE("request index: ids older than max_versions or max_age_ms leave it") {
  RequestIndex index({.max_entries = 100, .max_versions = 10, .max_age_ms = 1000}, 0);
  index.add_committed(id(1), 1, 0);
  index.add_committed(id(2), 5, 500);
  index.add_committed(id(3), 11, 600);  // 11 - 1 = 10 versions: still kept
  CHECK(index.committed_version(id(1)) == 1);
  index.add_committed(id(4), 12, 700);  // 12 - 1 > 10: id 1 goes
  CHECK_FALSE(index.committed_version(id(1)));
  CHECK(index.horizon() == 1);
  index.add_committed(id(5), 13, 1501);  // 1501 - 500 > 1000 ms: id 2 goes
  CHECK_FALSE(index.committed_version(id(2)));
  CHECK(index.committed_version(id(3)) == 11);
  CHECK(index.horizon() == 5);
  CHECK(index.committed_count() == 3);
}

TEST_CASE("request index: forget drops an entry; the id can commit again later") {
  RequestIndex index({.max_entries = 2, .max_versions = 1000, .max_age_ms = 1'000'000}, 0);
  index.add_committed(id(1), 1, 0);
  index.add_committed(id(2), 2, 0);
  index.forget(id(2));
  CHECK_FALSE(index.committed_version(id(2)));
  CHECK(index.committed_count() == 1);
  index.add_committed(id(2), 3, 0);
  index.add_committed(id(3), 4, 0);  // over the limit: id 1 goes, id 2 (version 3) stays
  CHECK_FALSE(index.committed_version(id(1)));
  CHECK(index.committed_version(id(2)) == 3);
  CHECK(index.committed_version(id(3)) == 4);
  index.add_committed(id(4), 5, 0);
  CHECK_FALSE(index.committed_version(id(2)));
  CHECK(index.committed_count() == 2);
}

TEST_CASE("request index: bans are bounded by the entry limit") {
  RequestIndex index({.max_entries = 2, .max_versions = 10, .max_age_ms = 10}, 0);
  index.ban(id(1));
  index.ban(id(2));
  index.ban(id(1));
  CHECK(index.banned(id(1)));
  index.ban(id(3));
  CHECK_FALSE(index.banned(id(1)));
  CHECK(index.banned(id(2)));
  CHECK(index.banned(id(3)));
  CHECK(index.banned_count() == 2);
}

}  // namespace weasel
