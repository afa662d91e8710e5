"""Retention policies over real TCP (SPEC section 3, /v1/retention/): every status code of the
CRUD routes, strict bodies and ids (400 naming the field), 410 for pinning truncated history,
durability across a restart, and real truncation of a real log: segment files go, the oldest
version rises in the API and in /metrics, and /v1/status of an old request answers
log_truncated."""
import json
import os
import re

import pytest

from conftest import (Client, b64, commit_ok, get_status, latest_version, new_request_id,
                      roundtrip, write)

POLICY_FIELDS = ("after_version", "keep_seconds", "keep_versions")
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MAX_VERSION = 2**53 - 1
MAX_KEEP_SECONDS = 100 * 366 * 86400

# Smallest segments the config allows; values near the commit limit fill one in ~11 commits.
SMALL_SEGMENTS = "[log]\nsegment_bytes = 1048576\n"
VALUE_BYTES = 95_000


def put(server, policy_id, body):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return roundtrip(server, "PUT", "/v1/retention/" + policy_id, data,
                     {"Content-Type": "application/json"})


def get(server, policy_id=""):
    return roundtrip(server, "GET", "/v1/retention/" + policy_id)


def delete_policy(server, policy_id):
    return roundtrip(server, "DELETE", "/v1/retention/" + policy_id)


def listing(server):
    r = get(server)
    assert r.status == 200, (r.status, r.body)
    assert r.header("content-type") == "application/json"
    return r.json()


def check_policy(body, policy_id, field, value):
    assert set(body) == {"policy_id", field, "floor_version", "created_at", "updated_at"}, body
    assert body["policy_id"] == policy_id
    assert body[field] == value
    assert RFC3339_MS.match(body["created_at"]), body
    assert RFC3339_MS.match(body["updated_at"]), body
    assert body["updated_at"] >= body["created_at"]


def bad_request(server, policy_id, body, field):
    r = put(server, policy_id, body)
    assert r.status == 400, (body, r.status, r.body)
    j = r.json()
    assert j["error"] == "bad_request"
    assert j["message"].startswith(field + ":"), (body, j)
    return j["message"]


def metric_value(server, name):
    text = roundtrip(server, "GET", "/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def segment_files(server):
    log_dir = os.path.join(server.data_dir, "log")
    return sorted(n for n in os.listdir(log_dir) if n.endswith(".log"))


def fill_segments(server, count):
    """Commits values big enough that `count` commits span several 1 MiB segments; returns
    the request ids in commit order."""
    ids = []
    with Client(server) as c:
        for i in range(count):
            rid = new_request_id("ret-fill")
            r = c.commit({"request_id": rid, "operations": [write(f"k{i}", b"x" * VALUE_BYTES)]})
            assert r.status == 200, (r.status, r.body)
            ids.append(rid)
    return ids


def wait_for_truncation(server, deleted_bytes_before=0):
    """The truncation job runs on its own thread, woken by the policy change: poll /metrics
    until a pass has deleted something (counted once the pass is complete). Returns the
    listing then."""
    # bounded-poll: each iteration is one HTTP round trip; the job needs a handful of fsyncs.
    for _ in range(200_000):
        if metric_value(server, "weaseldb_log_truncated_bytes_total") > deleted_bytes_before:
            return listing(server)
    raise AssertionError("the retention job deleted nothing: " + json.dumps(listing(server)))


# ---- CRUD and status codes ----------------------------------------------------------------------


def test_put_creates_then_replaces_get_list_delete(server):
    r = put(server, "cursor-1", {"after_version": 0})
    assert r.status == 201, (r.status, r.body)
    assert r.header("content-type") == "application/json"
    created = r.json()
    check_policy(created, "cursor-1", "after_version", 0)
    assert created["floor_version"] == 0
    assert created["created_at"] == created["updated_at"]

    commit_ok(server, {"operations": [write("a")]})
    commit_ok(server, {"operations": [write("b")]})
    latest = latest_version(server)
    r = put(server, "cursor-1", {"keep_versions": 1})
    assert r.status == 200, (r.status, r.body)
    replaced = r.json()
    check_policy(replaced, "cursor-1", "keep_versions", 1)
    assert replaced["floor_version"] == latest - 1
    assert replaced["created_at"] == created["created_at"]

    r = get(server, "cursor-1")
    assert r.status == 200
    assert r.json() == replaced

    assert put(server, "age", {"keep_seconds": 3600}).status == 201
    body = listing(server)
    assert [p["policy_id"] for p in body["policies"]] == ["age", "cursor-1"]
    assert body["policies"][1] == replaced
    check_policy(body["policies"][0], "age", "keep_seconds", 3600)
    assert body["oldest_version"] == 0
    assert body["latest_version"] == latest

    r = delete_policy(server, "cursor-1")
    assert r.status == 204 and r.body == b""
    r = get(server, "cursor-1")
    assert r.status == 404 and r.json()["error"] == "not_found"
    r = delete_policy(server, "cursor-1")
    assert r.status == 404 and r.json()["error"] == "not_found"
    assert [p["policy_id"] for p in listing(server)["policies"]] == ["age"]


def test_an_empty_listing_and_head(server):
    assert listing(server) == {"policies": [], "oldest_version": 0, "latest_version": 0}
    r = roundtrip(server, "HEAD", "/v1/retention/")
    assert r.status == 200 and r.body == b""
    assert roundtrip(server, "HEAD", "/v1/retention/nope").status == 404


def test_methods_not_allowed(server):
    r = roundtrip(server, "DELETE", "/v1/retention/")
    assert r.status == 405 and r.header("allow") == "GET, HEAD"
    r = roundtrip(server, "POST", "/v1/retention/x", "{}")
    assert r.status == 405 and r.header("allow") == "GET, HEAD, PUT, DELETE"


# ---- 400s ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("body, field", [
    ({"after_version": -1}, "after_version"),
    ({"after_version": 1.5}, "after_version"),
    ({"keep_seconds": "60"}, "keep_seconds"),
    ({"keep_versions": None}, "keep_versions"),
    ({"keep_versions": [1]}, "keep_versions"),
    ({"after_version": True}, "after_version"),
    ('{"after_version": 99999999999999999999999}', "after_version"),
    ({"after_version": MAX_VERSION + 1}, "after_version"),
    ({"keep_versions": MAX_VERSION + 1}, "keep_versions"),
    ({"keep_seconds": MAX_KEEP_SECONDS + 1}, "keep_seconds"),
    ({"after_version": 1, "keep_seconds": 2}, "keep_seconds"),
    ('{"keep_versions": 1, "keep_versions": 2}', "keep_versions"),
    ({"policy_id": "p", "after_version": 1}, "policy_id"),
    ({"after": 1}, "after"),
    ({}, "body"),
    ([], "body"),
    ("5", "body"),
    ("", "body"),
    ('{"after_version": 1', "body"),
    ('{"after_version": 1} {}', "body"),
    ("{after_version: 1}", "body"),
])
def test_bad_bodies_name_the_field(server, body, field):
    bad_request(server, "p", body, field)
    assert get(server, "p").status == 404  # nothing was stored


def test_messages_say_what_is_wrong(server):
    assert "duplicate" in bad_request(server, "p", '{"keep_versions":1,"keep_versions":2}',
                                      "keep_versions")
    assert "only one of" in bad_request(server, "p", {"after_version": 1, "keep_seconds": 2},
                                        "keep_seconds")
    assert "unknown field" in bad_request(server, "p", {"x": 1}, "x")
    assert "out of range" in bad_request(server, "p", {"keep_seconds": MAX_KEEP_SECONDS + 1},
                                         "keep_seconds")
    assert "required" in bad_request(server, "p", {}, "body")


@pytest.mark.parametrize("policy_id", ["a%2Fb", "a/b", "a%20b", "a:b", "x" * 129, "%C3%A9"])
def test_bad_ids_are_400_naming_policy_id(server, policy_id):
    for method, body in (("PUT", '{"after_version":0}'), ("GET", None), ("DELETE", None)):
        r = roundtrip(server, method, "/v1/retention/" + policy_id, body)
        assert r.status == 400, (method, policy_id, r.status, r.body)
        assert r.json()["message"].startswith("policy_id:"), r.body


def test_edge_values_and_ids_are_accepted(server):
    longest = "A-z_0.9" + "x" * 121
    assert put(server, longest, {"keep_seconds": MAX_KEEP_SECONDS}).status == 201
    assert get(server, longest).json()["keep_seconds"] == MAX_KEEP_SECONDS
    assert put(server, "v", {"keep_versions": MAX_VERSION}).status == 201
    assert get(server, "v").json()["floor_version"] == 0
    assert put(server, "z", " {\"after_version\" : 0}\n").status == 201


def test_the_number_of_policies_is_bounded(make_checked_server):
    s = make_checked_server("[retention]\nmax_policies = 2\n")
    assert put(s, "a", {"keep_seconds": 1}).status == 201
    assert put(s, "b", {"keep_seconds": 1}).status == 201
    message = bad_request(s, "c", {"keep_seconds": 1}, "policy_id")
    assert "retention.max_policies = 2" in message
    assert put(s, "b", {"keep_versions": 1}).status == 200  # replacing is fine
    assert delete_policy(s, "a").status == 204
    assert put(s, "c", {"keep_seconds": 1}).status == 201


# ---- durability ---------------------------------------------------------------------------------


def test_policies_survive_a_restart(make_checked_server):
    s = make_checked_server()
    assert put(s, "cursor", {"after_version": 0}).status == 201
    assert put(s, "age", {"keep_seconds": 60}).status == 201
    assert put(s, "gone", {"keep_versions": 3}).status == 201
    assert delete_policy(s, "gone").status == 204
    before = listing(s)
    assert s.restart() == 0
    assert listing(s) == before
    r = put(s, "cursor", {"after_version": 0})
    assert r.status == 200
    assert r.json()["created_at"] == before["policies"][1]["created_at"]


# ---- real truncation ----------------------------------------------------------------------------


def test_truncation_follows_the_policies(make_checked_server):
    s = make_checked_server(SMALL_SEGMENTS + "[commit]\nrequest_id_index_entries = 1\n")
    assert put(s, "cursor", {"after_version": 0}).status == 201
    ids = fill_segments(s, 40)
    segments_before = segment_files(s)
    assert len(segments_before) >= 4, segments_before
    bytes_before = metric_value(s, "weaseldb_log_bytes")
    latest = latest_version(s)

    # The cursor pins everything; keep_versions alone would keep only the last 5 versions.
    assert put(s, "recent", {"keep_versions": 5}).status == 201
    assert listing(s)["oldest_version"] == 0
    assert delete_policy(s, "cursor").status == 204
    body = wait_for_truncation(s)
    assert body["oldest_version"] > 0
    oldest = body["oldest_version"]
    assert oldest <= latest - 5  # history after the floor stays readable
    assert body["policies"][0]["floor_version"] == latest - 5

    segments_after = segment_files(s)
    assert len(segments_after) < len(segments_before)
    assert segments_after == segments_before[-len(segments_after):]  # the oldest ones went
    assert metric_value(s, "weaseldb_log_oldest_version") == oldest
    assert metric_value(s, "weaseldb_log_bytes") < bytes_before
    assert metric_value(s, "weaseldb_log_truncations_total") >= 1
    assert metric_value(s, "weaseldb_log_truncated_bytes_total") == \
        bytes_before - metric_value(s, "weaseldb_log_bytes")

    # The first commit's outcome is gone with its segment; the last one's is still known.
    r = get_status(s, ids[0])
    assert r.status == 200 and r.json() == {"request_id": ids[0], "status": "log_truncated",
                                             "oldest_version": oldest}, r.body
    r = get_status(s, ids[-1])
    assert r.json() == {"request_id": ids[-1], "status": "committed", "version": latest}, r.body

    # Pinning history that is gone is 410 with the oldest version; pinning at it works.
    r = put(s, "late", {"after_version": oldest - 1})
    assert r.status == 410, (r.status, r.body)
    j = r.json()
    assert j["error"] == "log_truncated" and j["oldest_version"] == oldest
    assert j["message"].startswith("after_version:")
    assert get(s, "late").status == 404
    assert put(s, "late", {"after_version": oldest}).status == 201

    # The truncation and the policies survive a restart.
    assert s.restart() == 0
    body = listing(s)
    assert body["oldest_version"] == oldest
    assert [p["policy_id"] for p in body["policies"]] == ["late", "recent"]
    assert segment_files(s) == segments_after


def test_with_no_policy_the_default_applies(make_checked_server):
    # default_keep_seconds = 0: with no policy, only the segment being written is kept.
    s = make_checked_server(SMALL_SEGMENTS + "[retention]\ndefault_keep_seconds = 0\n")
    assert put(s, "hold", {"after_version": 0}).status == 201
    fill_segments(s, 25)
    assert len(segment_files(s)) >= 2
    assert listing(s)["oldest_version"] == 0
    assert delete_policy(s, "hold").status == 204  # wakes the job; the default takes over
    assert wait_for_truncation(s)["oldest_version"] > 0
    assert len(segment_files(s)) == 1
