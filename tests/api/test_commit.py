"""POST /v1/commit over real TCP (SPEC section 3): every outcome of the table, every 400 with
the JSON path in its message, the precondition semantics and racing transactions.
(What survives a restart is in test_status.py, with the other request-id lifetimes.)"""
import re
import threading

import pytest

from conftest import (SOCKET_TIMEOUT_S, Client, HttpReader, Server, commit_body, commit_ok,
                      delete, get_status, latest_version, new_request_id, outcome, point_read,
                      post_commit, range_delete, range_read, request_bytes, write)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

# ---- outcomes -----------------------------------------------------------------------------


def test_committed_answers_version_request_id_and_leader_id(server):
    before = latest_version(server)
    rid = new_request_id("committed")
    r = post_commit(server, {"request_id": rid, "operations": [write("k", "v")]})
    assert r.status == 200
    assert r.header("content-type") == "application/json"
    body = r.json()
    assert body == {"request_id": rid, "status": "committed", "version": body["version"],
                    "leader_id": server.leader_id}
    assert isinstance(body["version"], int) and body["version"] > before
    assert latest_version(server) == body["version"]


def test_commit_without_request_id_gets_a_generated_uuid(server):
    ids = set()
    for _ in range(3):
        r = post_commit(server, {"operations": [write("k")]})
        assert r.status == 200
        assert UUID4.match(r.json()["request_id"]), r.json()
        ids.add(r.json()["request_id"])
    assert len(ids) == 3


def test_empty_transaction_commits(server):
    v = commit_ok(server, {})
    assert commit_ok(server, {"preconditions": [], "operations": []}) > v


def test_versions_strictly_increase_and_version_endpoint_follows(server):
    versions = []
    with Client(server) as c:
        for i in range(20):
            r = c.commit({"operations": [write(f"k{i}")]})
            assert r.status == 200, r.body
            versions.append(r.json()["version"])
            v = c.request("GET", "/v1/version")
            assert v.json() == {"version": versions[-1], "leader_id": server.leader_id}
    assert versions == sorted(set(versions))
    assert all(v < 2**53 for v in versions)


def test_version_endpoint_ignores_failed_commits(server):
    v1 = commit_ok(server, {"operations": [write("k")]})
    assert outcome(server, [point_read("k")], read_version=v1 - 1) == "conflict"
    assert post_commit(server, {"bogus": 1}).status == 400
    assert post_commit(server, {"leader_id": "someone-else"}).status == 409
    assert latest_version(server) == v1
    # The next commit still gets a version above every earlier one.
    assert commit_ok(server, {"operations": [write("k")]}) > v1


def test_duplicate_request_id_answers_the_original_version(server):
    rid = new_request_id("dup")
    v1 = commit_ok(server, {"request_id": rid, "operations": [write("a")]})
    v2 = commit_ok(server, {"operations": [write("b")]})
    # The retry carries a different body: only the id counts, and nothing of it applies.
    r = post_commit(server, {"request_id": rid, "operations": [write("only-in-the-retry")]})
    assert r.status == 200
    assert r.json() == {"request_id": rid, "status": "committed", "version": v1,
                        "duplicate": True, "leader_id": server.leader_id}
    assert latest_version(server) == v2
    # The retry wrote nothing: a read of its key at v2 still holds.
    assert outcome(server, [point_read("only-in-the-retry")], read_version=v2) == "committed"


def test_duplicate_is_answered_even_when_its_preconditions_would_fail_now(server):
    rid = new_request_id("dup-pre")
    v0 = latest_version(server)
    body = {"request_id": rid, "read_version": v0, "preconditions": [point_read("k")],
            "operations": [write("k")]}
    v1 = commit_ok(server, body)
    # The same request again: its precondition (k unchanged since v0) is now false, but the
    # transaction already committed, so the answer is that commit.
    r = post_commit(server, body)
    assert r.status == 200
    assert r.json() == {"request_id": rid, "status": "committed", "version": v1,
                        "duplicate": True, "leader_id": server.leader_id}


def test_conflict_lists_the_failing_precondition_indices(server):
    v0 = latest_version(server)
    commit_ok(server, {"operations": [write("a"), write("b")]})
    v_latest = commit_ok(server, {"operations": [write("x")]})
    rid = new_request_id("conflict")
    r = post_commit(server, {
        "request_id": rid,
        "read_version": v0,
        "preconditions": [
            point_read("a"),                        # 0: a written after v0 -> conflict
            point_read("c"),                        # 1: never written -> holds
            range_read("b", "c"),                   # 2: covers b -> conflict
            point_read("a", version=v_latest),      # 3: read at the latest version -> holds
            range_read("y"),                        # 4: [y, end) untouched -> holds
            range_read("w", "xa"),                  # 5: covers x -> conflict
        ],
        "operations": [write("written-by-the-conflict")],
    })
    assert r.status == 409
    assert r.header("content-type") == "application/json"
    assert r.json() == {"request_id": rid, "status": "conflict", "version": v_latest,
                        "conflicts": [0, 2, 5], "leader_id": server.leader_id}
    assert latest_version(server) == v_latest
    # A transaction that conflicted wrote nothing.
    assert outcome(server, [point_read("written-by-the-conflict")],
                   read_version=v0) == "committed"


def test_leader_changed_when_leader_id_names_another_leader(server):
    v = commit_ok(server, {"operations": [write("k")]})
    rid = new_request_id("leader")
    r = post_commit(server, {"request_id": rid, "leader_id": "0123456789abcdef-not-the-leader",
                             "operations": [write("k")]})
    assert r.status == 409
    assert r.json() == {"request_id": rid, "status": "leader_changed", "version": v,
                        "leader_id": server.leader_id}
    assert latest_version(server) == v
    # Naming the current leader commits; so does the same request id now (nothing was
    # recorded for it).
    r = post_commit(server, {"request_id": rid, "leader_id": server.leader_id,
                             "operations": [write("k")]})
    assert r.status == 200 and r.json()["version"] > v and "duplicate" not in r.json()


def test_not_committed_when_a_status_lookup_closed_the_request_id(server):
    v = commit_ok(server, {"operations": [write("k")]})
    rid = new_request_id("closed")
    s = get_status(server, rid)
    assert s.status == 200 and s.json() == {"request_id": rid, "status": "not_committed"}
    r = post_commit(server, {"request_id": rid, "operations": [write("k")]})
    assert r.status == 409
    assert r.json() == {"request_id": rid, "status": "not_committed", "version": v,
                        "leader_id": server.leader_id}
    assert latest_version(server) == v


# A probe is a full HTTP round trip through the pipeline (about 8,000 a second on a release
# build): 200,000 of them take far longer than the 1 s window, so the bound only trips when
# the window never moves.
POLL_LIMIT = 200_000


def poll_until_too_old(server, read_version, key):
    """Sends a transaction reading `key` at `read_version` until the answer is too_old and
    returns that response. `key` must have been written after read_version inside the window,
    so that every earlier answer is a conflict (which writes nothing)."""
    rid = new_request_id("too-old")
    body = {"request_id": rid, "read_version": read_version, "preconditions": [point_read(key)],
            "operations": [write(key)]}
    with Client(server) as c:
        # bounded-poll: the conflict window is measured on the server's wall clock
        # (commit.conflict_window_seconds, at least 1 s) and nothing in the API moves it, so
        # the only way to see history leave it is to let that second pass. Each probe runs
        # through the resolve stage, which advances the window; the loop is bounded by an
        # iteration count, not by a clock, and fails with a clear message.
        for _ in range(POLL_LIMIT):
            r = c.commit(body)
            assert r.status == 409, (r.status, r.body)
            if r.json()["status"] == "too_old":
                return rid, r
            assert r.json()["status"] == "conflict", r.body
    raise AssertionError(f"no too_old after {POLL_LIMIT} probes with a 1 s conflict window")


def test_too_old_when_the_read_version_left_the_conflict_window(make_checked_server):
    s = make_checked_server("[commit]\nconflict_window_seconds = 1\n")
    v0 = latest_version(s)
    v1 = commit_ok(s, {"operations": [write("k")]})
    rid, r = poll_until_too_old(s, v0, "k")
    body = r.json()
    assert body == {"request_id": rid, "status": "too_old", "version": v1,
                    "oldest_version": body["oldest_version"], "leader_id": s.leader_id}
    assert v0 < body["oldest_version"] <= v1
    assert latest_version(s) == v1
    # oldest_version is the oldest version that can still be checked: reading there works,
    # one below is too_old.
    assert outcome(s, [point_read("k")], read_version=body["oldest_version"] - 1) == "too_old"
    assert outcome(s, [point_read("k")], read_version=body["oldest_version"]) == "committed"


def test_too_old_after_a_restart_once_history_left_the_window(make_checked_server):
    s = make_checked_server("[commit]\nconflict_window_seconds = 1\n")
    v0 = latest_version(s)
    v1 = commit_ok(s, {"operations": [write("k")]})
    poll_until_too_old(s, v0, "k")  # the server's clock is now past the window of v1
    assert s.restart() == 0
    # The new process rebuilt its window from the log: v1 is older than the window, so
    # nothing below the latest version can be checked; the latest version can.
    rid = new_request_id("too-old-restart")
    r = post_commit(s, {"request_id": rid, "read_version": v0,
                        "preconditions": [point_read("other")]})
    assert r.status == 409
    assert r.json() == {"request_id": rid, "status": "too_old", "version": v1,
                        "oldest_version": v1, "leader_id": s.leader_id}
    assert outcome(s, [point_read("k")], read_version=v1) == "committed"


# ---- 400: every malformed or out-of-range request, with the JSON path in the message --------

LIMITS_CONFIG = """[commit]
max_key_bytes = 8
max_value_bytes = 16
max_preconditions = 4
max_operations = 4
"""


@pytest.fixture(scope="module")
def limited():
    """One server with small limits for the 400 tests (each test checks the version itself)."""
    s = Server(LIMITS_CONFIG)
    yield s
    assert s.stop() == 0, "".join(s.log)


def assert_bad_request(server, body, message):
    before = latest_version(server)
    with Client(server) as c:
        r = c.commit(body)
        assert r.status == 400, (r.status, r.body)
        assert r.header("content-type") == "application/json"
        assert r.json() == {"error": "bad_request", "message": message}
        # The connection stays usable.
        assert c.request("GET", "/v1/version").status == 200
    assert latest_version(server) == before, "a bad request changed the version"


W = {"type": "write", "key": "YQ==", "value": "dg=="}  # write a=v, valid


def bad(body, message, id):
    return pytest.param(body, message, id=id)


@pytest.mark.parametrize("body,message", [
    bad({"bogus": 1}, "bogus: unknown field", "top"),
    bad({"operations": [W], "Operations": []}, "Operations: unknown field", "top-case"),
    bad({"operations": [dict(W, bogus="x")]}, "operations[0].bogus: unknown field", "operation"),
    bad({"read_version": 0, "preconditions": [point_read("a"), dict(point_read("a"), extra=1)]},
        "preconditions[1].extra: unknown field", "precondition"),
    bad({"read_version": 0, "preconditions": [dict(point_read("a"), value="YQ==")]},
        "preconditions[0].value: unknown field", "value-in-precondition"),
    bad({"operations": [dict(W, version=0)]}, "operations[0].version: unknown field",
        "version-in-operation"),
    bad({"operations": [{"type": "write", "ké": "YQ==", "value": "dg=="}]},
        "operations[0]: unknown field", "unprintable-name-not-echoed"),
    bad({"operations": [dict(W, begin="YQ==")]},
        "operations[0].begin: not allowed in a write", "begin-in-write"),
    bad({"operations": [{"type": "delete", "key": "YQ==", "value": "dg=="}]},
        "operations[0].value: not allowed in a delete", "value-in-delete"),
    bad({"operations": [{"type": "range_delete", "key": "YQ==", "end": "Yg=="}]},
        "operations[0].key: not allowed in a range_delete", "key-in-range-delete"),
    bad({"preconditions": [{"type": "point_read", "key": "YQ==", "end": "Yg==", "version": 0}]},
        "preconditions[0].end: not allowed in a point_read", "end-in-point-read"),
    bad({"preconditions": [{"type": "range_read", "key": "YQ==", "version": 0}]},
        "preconditions[0].key: not allowed in a range_read", "key-in-range-read"),
])
def test_unknown_or_misplaced_field_is_400(limited, body, message):
    assert_bad_request(limited, body, message)


@pytest.mark.parametrize("body,message", [
    bad('{"read_version":1,"read_version":1}', "read_version: duplicate field", "top"),
    bad('{"operations":[],"operations":[]}', "operations: duplicate field", "top-array"),
    bad('{"operations":[{"type":"write","key":"YQ==","key":"YQ==","value":"dg=="}]}',
        "operations[0].key: duplicate field", "operation"),
    bad('{"preconditions":[{"type":"point_read","type":"point_read","key":"YQ==","version":0}]}',
        "preconditions[0].type: duplicate field", "precondition"),
    bad('{"request_id":"aaaaaaaaaaaaaaaaaaaaaaaa","\\u0072equest_id":"bbbbbbbbbbbbbbbbbbbbbbbbb"}',
        "request_id: duplicate field", "escaped-spelling"),
])
def test_duplicate_field_is_400(limited, body, message):
    assert_bad_request(limited, body, message)


@pytest.mark.parametrize("body,message", [
    bad({"request_id": 12345678901234567890}, "request_id: must be a string", "request_id"),
    bad({"leader_id": 5}, "leader_id: must be a string", "leader_id"),
    bad({"read_version": "1"}, "read_version: must be an unsigned integer", "read_version-str"),
    bad({"read_version": None}, "read_version: must be an unsigned integer", "read_version-null"),
    bad({"read_version": True}, "read_version: must be an unsigned integer", "read_version-bool"),
    bad({"preconditions": {}}, "preconditions: must be an array", "preconditions-object"),
    bad({"operations": "write"}, "operations: must be an array", "operations-string"),
    bad({"operations": [5]}, "operations[0]: must be an object", "operation-number"),
    bad({"operations": [W, [W]]}, "operations[1]: must be an object", "operation-array"),
    bad({"preconditions": [None]}, "preconditions[0]: must be an object", "precondition-null"),
    bad({"operations": [dict(W, key=None)]}, "operations[0].key: must be a string", "key-null"),
    bad({"operations": [dict(W, value=1)]}, "operations[0].value: must be a string", "value-num"),
    bad({"operations": [dict(W, type=1)]}, "operations[0].type: must be a string", "type-num"),
    bad({"preconditions": [point_read("a", "1")]},
        "preconditions[0].version: must be an unsigned integer", "version-str"),
    bad({"operations": [dict(W, type="put")]},
        'operations[0].type: must be "write", "delete" or "range_delete"', "type-unknown"),
    bad({"preconditions": [dict(point_read("a", 0), type="read")]},
        'preconditions[0].type: must be "point_read" or "range_read"', "precondition-type"),
    bad({"operations": [{"key": "YQ==", "value": "dg=="}]}, "operations[0].type: required",
        "type-missing"),
    bad({"operations": [{"type": "write", "key": "YQ=="}]},
        "operations[0].value: required in a write", "value-missing"),
    bad({"operations": [{"type": "range_delete", "end": "YQ=="}]},
        "operations[0].begin: required in a range_delete", "begin-missing"),
    bad({"preconditions": [{"type": "point_read", "version": 0}]},
        "preconditions[0].key: required in a point_read", "key-missing"),
])
def test_wrong_type_or_missing_field_is_400(limited, body, message):
    assert_bad_request(limited, body, message)


@pytest.mark.parametrize("body,message", [
    bad({"operations": [dict(W, key="YQ!=")]}, "operations[0].key: invalid base64 at offset 2",
        "bad-char"),
    bad({"operations": [dict(W, key="YQ")]}, "operations[0].key: invalid base64 at offset 2",
        "unpadded"),
    bad({"operations": [dict(W, key="YR==")]}, "operations[0].key: invalid base64 at offset 2",
        "non-canonical"),
    bad({"operations": [dict(W, value="d g=")]},
        "operations[0].value: invalid base64 at offset 1", "space-in-value"),
    bad({"operations": [W, {"type": "range_delete", "begin": "YQ==", "end": "Y-=="}]},
        "operations[1].end: invalid base64 at offset 1", "url-alphabet-end"),
    bad({"preconditions": [range_read("a", version=0) | {"begin": "Y==="}]},
        "preconditions[0].begin: invalid base64 at offset 1", "begin"),
    bad({"preconditions": [point_read("a", 0) | {"key": "YQ=="[:3]}]},
        "preconditions[0].key: invalid base64 at offset 3", "truncated"),
])
def test_invalid_base64_is_400(limited, body, message):
    assert_bad_request(limited, body, message)


@pytest.mark.parametrize("begin,end", [
    (b"b", b"b"), (b"b", b"a"), (b"", b""), (b"a\x00", b"a"), (b"ab", b"a"), (b"\xff", b"\x00"),
], ids=["equal", "greater", "both-empty", "longer-begin", "prefix-end", "high-byte"])
def test_range_with_begin_not_below_end_is_400(limited, begin, end):
    assert_bad_request(limited, {"read_version": 0, "preconditions": [range_read(begin, end)]},
                       "preconditions[0].end: must be greater than begin")
    assert_bad_request(limited, {"operations": [write("a"), range_delete(begin, end)]},
                       "operations[1].end: must be greater than begin")


@pytest.mark.parametrize("body,message", [
    bad({"operations": [write(b"k" * 9)]}, "operations[0].key: larger than 8 bytes", "key"),
    bad({"operations": [write("k", b"v" * 17)]}, "operations[0].value: larger than 16 bytes",
        "value"),
    bad({"operations": [delete(b"k" * 9)]}, "operations[0].key: larger than 8 bytes", "delete"),
    bad({"operations": [range_delete(b"a", b"z" * 9)]}, "operations[0].end: larger than 8 bytes",
        "range-end"),
    bad({"preconditions": [point_read(b"k" * 9, 0)]},
        "preconditions[0].key: larger than 8 bytes", "point-read"),
    bad({"preconditions": [range_read(b"b" * 9, version=0)]},
        "preconditions[0].begin: larger than 8 bytes", "range-begin"),
    bad({"preconditions": [point_read("a", 0)] * 5}, "preconditions: more than 4 entries",
        "preconditions-count"),
    bad({"operations": [W] * 5}, "operations: more than 4 entries", "operations-count"),
])
def test_over_the_limits_is_400(limited, body, message):
    assert_bad_request(limited, body, message)


def test_exactly_at_the_limits_commits(limited):
    v = latest_version(limited)
    body = {"read_version": v,
            "preconditions": [point_read(b"k" * 8), range_read(b"", b"\xff" * 8),
                              range_read(b"a" * 8), point_read(b"")],
            "operations": [write(b"k" * 8, b"v" * 16), write(b"", b""), delete(b"d" * 8),
                           range_delete(b"\x00" * 8, b"\xff" * 8)]}
    assert commit_ok(limited, body) > v


@pytest.mark.parametrize("request_id,message", [
    ("a" * 19, "request_id: length must be between 20 and 128"),
    ("a" * 129, "request_id: length must be between 20 and 128"),
    ("", "request_id: length must be between 20 and 128"),
    ("aaaaa aaaaaaaaaaaaaaaaaaa", "request_id: character 5 is not one of A-Z a-z 0-9 . _ : -"),
    ("aaaaaaaaaaaaaaaaaaaa/", "request_id: character 20 is not one of A-Z a-z 0-9 . _ : -"),
    ("+aaaaaaaaaaaaaaaaaaaa", "request_id: character 0 is not one of A-Z a-z 0-9 . _ : -"),
    ("aaaaaaaaaaaaaaaaaaaé", "request_id: character 19 is not one of A-Z a-z 0-9 . _ : -"),
], ids=["19-chars", "129-chars", "empty", "space", "slash", "plus", "non-ascii"])
def test_bad_request_id_is_400(limited, request_id, message):
    assert_bad_request(limited, {"request_id": request_id}, message)


@pytest.mark.parametrize("request_id", [
    "a" * 20, "b" * 128, "AZaz09._:-" * 2, "0123456789-abcdefghij:KLMN.op_q"])
def test_request_id_at_the_bounds_commits(limited, request_id):
    r = post_commit(limited, {"request_id": request_id, "operations": [write("a")]})
    assert r.status == 200 and r.json()["request_id"] == request_id


def test_read_version_required_when_a_precondition_has_no_version(limited):
    assert_bad_request(limited, {"preconditions": [point_read("a", 0), point_read("b")]},
                       "read_version: required when a precondition has no version")
    assert_bad_request(limited, {"preconditions": [range_read("a")]},
                       "read_version: required when a precondition has no version")
    # With every precondition versioned, read_version is optional.
    v = latest_version(limited)
    assert outcome(limited, [point_read("a", v), range_read("b", version=v)]) == "committed"


@pytest.mark.parametrize("number,reason", [
    ("-1", "must not be negative"), ("-0", "must not be negative"),
    ("1.5", "must be an integer"), ("1.0", "must be an integer"), ("1e3", "must be an integer"),
    ("9007199254740992", "must be less than 2^53"),
    ("18446744073709551615", "must be less than 2^53"),
    ("18446744073709551616", "must be less than 2^53"),
    ("01", "invalid number"),
], ids=["negative", "minus-zero", "fraction", "point-zero", "exponent", "2^53", "2^64-1",
        "2^64", "leading-zero"])
def test_out_of_range_version_is_400(limited, number, reason):
    assert_bad_request(limited, '{"read_version":%s}' % number, "read_version: " + reason)
    assert_bad_request(
        limited,
        '{"read_version":0,"preconditions":[{"type":"point_read","key":"YQ==","version":0},'
        '{"type":"range_read","begin":"YQ==","version":%s}]}' % number,
        "preconditions[1].version: " + reason)


def test_future_version_is_400(limited):
    v = commit_ok(limited, {"operations": [write("a")]})
    assert_bad_request(
        limited, {"read_version": v, "preconditions": [point_read("a"), point_read("b", v + 1)]},
        f"preconditions[1].version: future_version (above the latest version {v})")
    # read_version is the default version of a precondition: the same check applies.
    assert_bad_request(
        limited, {"read_version": v + 1, "preconditions": [point_read("a", v), range_read("b")]},
        f"preconditions[1].version: future_version (above the latest version {v})")
    assert_bad_request(limited, {"preconditions": [point_read("a", 2**53 - 1)]},
                       f"preconditions[0].version: future_version (above the latest version {v})")
    # The latest version itself is fine.
    assert outcome(limited, [point_read("a", v)]) == "committed"


def test_future_version_counts_only_committed_versions(server):
    """A version given to a transaction that then failed is skipped (SPEC section 2); it is
    above the latest committed version, so a precondition naming it is future_version."""
    v1 = commit_ok(server, {"operations": [write("a")]})
    assert outcome(server, [point_read("a")], read_version=v1 - 1) == "conflict"
    latest = latest_version(server)
    assert latest == v1
    assert_bad_request(
        server, {"read_version": latest + 1, "preconditions": [point_read("b")]},
        f"preconditions[0].version: future_version (above the latest version {latest})")


@pytest.mark.parametrize("body", ["[]", '"x"', "5", "null", "true", '[{"operations":[]}]'])
def test_body_that_is_not_an_object_is_400(limited, body):
    assert_bad_request(limited, body, "request body: must be a JSON object")


@pytest.mark.parametrize("body", [
    "{} {}", '{"operations":[]} x', "{}x", '{"operations":[]}]', "{}\n{}", "{} 5"])
def test_trailing_content_after_the_object_is_400(limited, body):
    before = latest_version(limited)
    r = post_commit(limited, body)
    assert r.status == 400, (r.status, r.body)
    assert r.json()["error"] == "bad_request"
    assert r.json()["message"].startswith("invalid JSON ("), r.json()
    assert latest_version(limited) == before


@pytest.mark.parametrize("body,prefix", [
    ("", "invalid JSON ("),
    ("{", "invalid JSON ("),
    ('{"operations":[{"type":"write","key":"YQ==","value":"dg==}]}', "invalid JSON ("),
    ('{"read_version":1,', "invalid JSON ("),
    # Structural errors found while reading a field name the field where parsing stopped.
    ('{"operations":[{"type":"write" "key":"YQ==","value":"dg=="}]}',
     "operations[0].type: invalid JSON ("),
    ('{"read_version":1 "operations":[]}', "read_version: invalid JSON ("),
    ('{"preconditions":[{"type":"point_read","key":"YQ==","version":1x}]}',
     "preconditions[0].version: invalid number"),
])
def test_malformed_json_is_400(limited, body, prefix):
    before = latest_version(limited)
    r = post_commit(limited, body)
    assert r.status == 400, (r.status, r.body)
    assert r.json()["error"] == "bad_request"
    assert r.json()["message"].startswith(prefix), r.json()
    assert latest_version(limited) == before


def test_whitespace_around_the_object_is_fine(limited):
    r = post_commit(limited, ' \n\t{"operations":[]}\r\n ')
    assert r.status == 200, r.body


def test_bad_request_id_in_a_rejected_body_is_not_recorded(limited):
    """A 400 changes nothing: its request id was neither committed nor closed."""
    rid = new_request_id("bad-then-good")
    assert post_commit(limited, {"request_id": rid, "operations": [dict(W, key="!")]}).status \
        == 400
    r = post_commit(limited, {"request_id": rid, "operations": [W]})
    assert r.status == 200 and "duplicate" not in r.json(), r.body


# ---- precondition semantics ------------------------------------------------------------------


def test_point_read_conflicts_with_a_later_write(server):
    v0 = commit_ok(server, {"operations": [write("k", "1")]})
    v1 = commit_ok(server, {"operations": [write("k", "2")]})
    assert outcome(server, [point_read("k")], v0) == "conflict"
    assert outcome(server, [point_read("k")], v1) == "committed"
    assert outcome(server, [point_read("k2")], v0) == "committed"  # another key
    assert outcome(server, [point_read("")], v0) == "committed"  # the empty key


def test_point_read_conflicts_with_a_later_delete(server):
    v0 = commit_ok(server, {"operations": [write("k")]})
    v1 = commit_ok(server, {"operations": [delete("k")]})
    assert outcome(server, [point_read("k")], v0) == "conflict"
    assert outcome(server, [point_read("k")], v1) == "committed"
    # Deleting a key that never existed still counts as a write of it.
    v2 = commit_ok(server, {"operations": [delete("never")]})
    assert outcome(server, [point_read("never")], v1) == "conflict"
    assert outcome(server, [point_read("never")], v2) == "committed"


def test_point_read_conflicts_with_a_covering_range_delete(server):
    v0 = latest_version(server)
    commit_ok(server, {"operations": [range_delete("b", "d")]})
    assert outcome(server, [point_read("b")], v0) == "conflict"  # begin: inclusive
    assert outcome(server, [point_read("c\xff")], v0) == "conflict"
    assert outcome(server, [point_read("d")], v0) == "committed"  # end: exclusive
    assert outcome(server, [point_read("a\xff")], v0) == "committed"
    v1 = commit_ok(server, {"operations": [range_delete("x")]})  # [x, end of key space)
    assert outcome(server, [point_read(b"\xff\xff\xff")], v0) == "conflict"
    assert outcome(server, [point_read("x")], v0) == "conflict"
    assert outcome(server, [point_read("w")], v0) == "committed"
    assert outcome(server, [point_read(b"\xff\xff\xff")], v1) == "committed"


def test_range_read_conflicts_with_a_write_inside(server):
    v0 = latest_version(server)
    commit_ok(server, {"operations": [write("m")]})
    assert outcome(server, [range_read("a", "z")], v0) == "conflict"
    assert outcome(server, [range_read("l", "m\x00")], v0) == "conflict"
    assert outcome(server, [range_read("n", "z")], v0) == "committed"
    assert outcome(server, [range_read("a", "l")], v0) == "committed"


def test_range_read_begin_is_inclusive(server):
    v0 = latest_version(server)
    commit_ok(server, {"operations": [write("m")]})
    assert outcome(server, [range_read("m", "n")], v0) == "conflict"


def test_range_read_end_is_exclusive(server):
    v0 = latest_version(server)
    commit_ok(server, {"operations": [write("m")]})
    assert outcome(server, [range_read("a", "m")], v0) == "committed"


def test_range_read_without_end_covers_the_rest_of_the_key_space(server):
    v0 = latest_version(server)
    commit_ok(server, {"operations": [write(b"\xff" * 8)]})
    assert outcome(server, [range_read("m")], v0) == "conflict"
    assert outcome(server, [range_read(b"\xff" * 8)], v0) == "conflict"
    assert outcome(server, [range_read(b"\xff" * 9)], v0) == "committed"
    assert outcome(server, [range_read("")], v0) == "conflict"  # the whole key space


def test_range_read_conflicts_with_an_overlapping_range_delete(server):
    v0 = latest_version(server)
    commit_ok(server, {"operations": [range_delete("f", "h")]})
    assert outcome(server, [range_read("a", "g")], v0) == "conflict"
    assert outcome(server, [range_read("g", "z")], v0) == "conflict"
    assert outcome(server, [range_read("a", "f")], v0) == "committed"  # ends where it begins
    assert outcome(server, [range_read("h", "z")], v0) == "committed"  # begins where it ends
    assert outcome(server, [range_read("a")], v0) == "conflict"


def test_keys_order_bytewise_with_the_shorter_prefix_first(server):
    v0 = latest_version(server)
    commit_ok(server, {"operations": [write(b"a\x00")]})
    # [a, a\0) holds exactly the key "a"; "a\0" is after it.
    assert outcome(server, [range_read(b"a", b"a\x00")], v0) == "committed"
    assert outcome(server, [range_read(b"a", b"a\x00\x00")], v0) == "conflict"
    assert outcome(server, [range_read(b"", b"a")], v0) == "committed"
    v1 = commit_ok(server, {"operations": [write(b"")]})
    assert outcome(server, [range_read(b"", b"\x00")], v1 - 1) == "conflict"  # the empty key
    assert outcome(server, [range_read(b"\x00", b"a")], v1 - 1) == "committed"
    v2 = commit_ok(server, {"operations": [write(b"\x80abc")]})
    assert outcome(server, [range_read(b"\x7f", b"\x81")], v2 - 1) == "conflict"  # unsigned
    assert outcome(server, [range_read(b"\x00", b"\x7f")], v2 - 1) == "committed"


def test_read_at_the_write_version_holds_one_below_conflicts(server):
    v = commit_ok(server, {"operations": [write("k"), range_delete("r", "s")]})
    assert outcome(server, [point_read("k")], v) == "committed"
    assert outcome(server, [point_read("k")], v - 1) == "conflict"
    assert outcome(server, [range_read("r", "s")], v) == "committed"
    assert outcome(server, [range_read("r", "s")], v - 1) == "conflict"


def test_precondition_version_overrides_read_version(server):
    v0 = latest_version(server)
    v1 = commit_ok(server, {"operations": [write("k")]})
    assert outcome(server, [point_read("k", v1)], read_version=v0) == "committed"
    assert outcome(server, [point_read("k", v0)], read_version=v1) == "conflict"


def test_blind_write_never_conflicts(server):
    for i in range(10):
        commit_ok(server, {"operations": [write("k", str(i)), range_delete("a", "z")]})
    commit_ok(server, {"operations": [write("k", "blind"), delete("k"), range_delete("")]})
    # read_version alone is not a precondition: still blind.
    commit_ok(server, {"read_version": 0, "operations": [write("k")]})


def test_writes_of_the_same_transaction_do_not_conflict_with_its_own_reads(server):
    v = latest_version(server)
    v1 = commit_ok(server, {"read_version": v, "preconditions": [point_read("k")],
                            "operations": [write("k"), write("k", "again")]})
    assert outcome(server, [point_read("k")], v) == "conflict"
    assert outcome(server, [point_read("k")], v1) == "committed"


# ---- concurrency ---------------------------------------------------------------------------


def race(server, bodies):
    """Sends every body at once, each on its own connection (all connected first, released by
    a barrier); returns the responses in the order of `bodies`."""
    socks = [server.connect() for _ in bodies]
    barrier = threading.Barrier(len(bodies))
    results = [None] * len(bodies)

    def run(i):
        data = request_bytes("POST", "/v1/commit", commit_body(bodies[i]),
                             {"Content-Type": "application/json"})
        barrier.wait(timeout=SOCKET_TIMEOUT_S)
        socks[i].sendall(data)
        results[i] = HttpReader(socks[i]).read_response()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SOCKET_TIMEOUT_S)
        assert not t.is_alive(), "a racing commit got no answer"
    for s in socks:
        s.close()
    return results


def test_racing_read_modify_writes_on_one_key_exactly_one_commits(server):
    n = 16
    for round_ in range(5):
        v = latest_version(server)
        rids = [new_request_id(f"race{round_}") for _ in range(n)]
        bodies = [{"request_id": rid, "read_version": v, "preconditions": [point_read("counter")],
                   "operations": [write("counter", rid)]} for rid in rids]
        results = race(server, bodies)
        winners = [r for r in results if r.status == 200]
        assert len(winners) == 1, [(r.status, r.body) for r in results]
        winner = winners[0].json()
        assert winner["status"] == "committed" and winner["version"] > v
        for rid, r in zip(rids, results):
            if r.status == 200:
                continue
            assert r.status == 409
            # The loser ran after the winner, which was durable before anyone was answered.
            assert r.json() == {"request_id": rid, "status": "conflict",
                                "version": winner["version"], "conflicts": [0],
                                "leader_id": server.leader_id}
            assert get_status(server, rid).json() == {"request_id": rid,
                                                      "status": "not_committed"}
        assert latest_version(server) == winner["version"]


def test_racing_transactions_on_distinct_keys_all_commit_in_distinct_versions(server):
    n = 16
    v = latest_version(server)
    bodies = [{"request_id": new_request_id("distinct"), "read_version": v,
               "preconditions": [point_read(f"key{i}")], "operations": [write(f"key{i}")]}
              for i in range(n)]
    results = race(server, bodies)
    assert [r.status for r in results] == [200] * n, [r.body for r in results]
    versions = [r.json()["version"] for r in results]
    assert len(set(versions)) == n and min(versions) > v
    assert latest_version(server) == max(versions)
    for body, version in zip(bodies, versions):
        assert get_status(server, body["request_id"]).json() == {
            "request_id": body["request_id"], "status": "committed", "version": version}


def test_racing_retries_of_one_request_id_commit_once(server):
    rid = new_request_id("same-id")
    v = latest_version(server)
    results = race(server, [{"request_id": rid, "operations": [write(f"k{i}")]}
                            for i in range(8)])
    assert [r.status for r in results] == [200] * 8, [r.body for r in results]
    versions = {r.json()["version"] for r in results}
    assert len(versions) == 1, versions
    assert sum("duplicate" not in r.json() for r in results) == 1
    version = versions.pop()
    assert version > v and latest_version(server) == version
