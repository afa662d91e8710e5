"""What a request id means over time, over real TCP (SPEC section 3): GET /v1/status (the
final outcome of a commit whose answer the client never saw: a lookup closes the id, so its
answer is final), duplicates, and what survives a restart (SIGTERM and kill -9) on the same
data directory: versions, request ids, the conflict window, every acknowledged commit."""
import signal
import threading

import pytest

from conftest import (SOCKET_TIMEOUT_S, Client, commit_ok, delete, get_status, latest_version,
                      new_request_id, outcome, point_read, post_commit, range_delete, range_read,
                      roundtrip, write)


def commit(server, request_id, operations=None):
    r = post_commit(server, {"request_id": request_id,
                             "operations": operations or [write("k", request_id)]})
    assert r.status == 200 and r.json()["status"] == "committed", (r.status, r.body)
    return r.json()["version"]


def assert_status(server, request_id, expected, min_version=None):
    r = get_status(server, request_id, min_version)
    assert r.status == 200, (r.status, r.body)
    assert r.header("content-type") == "application/json"
    assert r.json() == dict(expected, request_id=request_id)


def test_status_of_a_committed_request(server):
    rid = new_request_id("st-committed")
    v = commit(server, rid)
    commit(server, new_request_id("st-other"))
    assert_status(server, rid, {"status": "committed", "version": v})
    # Asking again gives the same answer.
    assert_status(server, rid, {"status": "committed", "version": v})


def test_status_of_an_unknown_request_is_not_committed(server):
    rid = new_request_id("st-unknown")
    commit(server, new_request_id("st-other"))
    assert_status(server, rid, {"status": "not_committed"})


def test_not_committed_is_final(server):
    rid = new_request_id("st-final")
    assert_status(server, rid, {"status": "not_committed"})
    v = latest_version(server)
    r = post_commit(server, {"request_id": rid, "operations": [write("k")]})
    assert r.status == 409
    assert r.json() == {"request_id": rid, "status": "not_committed", "version": v,
                        "leader_id": server.leader_id}
    assert latest_version(server) == v
    assert_status(server, rid, {"status": "not_committed"})
    # Still closed after other commits.
    commit(server, new_request_id("st-other"))
    r = post_commit(server, {"request_id": rid})
    assert r.status == 409 and r.json()["status"] == "not_committed"


def test_status_does_not_close_a_committed_request(server):
    rid = new_request_id("st-dup")
    v = commit(server, rid)
    assert_status(server, rid, {"status": "committed", "version": v})
    r = post_commit(server, {"request_id": rid, "operations": [write("k")]})
    assert r.status == 200
    assert r.json() == {"request_id": rid, "status": "committed", "version": v,
                        "duplicate": True, "leader_id": server.leader_id}


def test_status_min_version(server):
    rid = new_request_id("st-min")
    before = latest_version(server)
    v = commit(server, rid)
    assert_status(server, rid, {"status": "committed", "version": v}, min_version=before)
    assert_status(server, rid, {"status": "committed", "version": v}, min_version=0)
    assert_status(server, rid, {"status": "committed", "version": v}, min_version=v - 1)
    unknown = new_request_id("st-min-unknown")
    assert_status(server, unknown, {"status": "not_committed"}, min_version=v)
    assert_status(server, unknown, {"status": "not_committed"}, min_version=0)


def assert_status_400(server, query, message):
    before = latest_version(server)
    r = roundtrip(server, "GET", "/v1/status?" + query)
    assert r.status == 400, (r.status, r.body)
    assert r.header("content-type") == "application/json"
    assert r.json() == {"error": "bad_request", "message": message}
    assert latest_version(server) == before


RID = "a" * 24


@pytest.mark.parametrize("min_version", [
    "abc", "-1", "1.5", "9007199254740992", "18446744073709551616", "", "1e3", "%2B1", "0x10"])
def test_status_bad_min_version_is_400(server, min_version):
    assert_status_400(server, f"request_id={RID}&min_version={min_version}",
                      "min_version: expected a version (an integer below 2^53)")


@pytest.mark.parametrize("query,message", [
    ("request_id=" + "a" * 19, "request_id: length must be between 20 and 128"),
    ("request_id=" + "a" * 129, "request_id: length must be between 20 and 128"),
    ("request_id=", "request_id: length must be between 20 and 128"),
    ("request_id=aaaaa%20aaaaaaaaaaaaaaaaaaaa",
     "request_id: character 5 is not one of A-Z a-z 0-9 . _ : -"),
    ("request_id=aaaaaaaaaaaaaaaaaaaa%2F",
     "request_id: character 20 is not one of A-Z a-z 0-9 . _ : -"),
    ("request_id=aaaaaaaaaa+aaaaaaaaaaa",  # '+' is a space in a query string
     "request_id: character 10 is not one of A-Z a-z 0-9 . _ : -"),
    ("", "request_id: required"),
    ("min_version=1", "request_id: required"),
], ids=["19-chars", "129-chars", "empty", "space", "slash", "plus", "missing", "only-min"])
def test_status_bad_request_id_is_400(server, query, message):
    assert_status_400(server, query, message)


@pytest.mark.parametrize("query,message", [
    (f"request_id={RID}&foo=1", "foo: unknown query parameter"),
    (f"requestid={RID}", "requestid: unknown query parameter"),
    (f"request_id={RID}&request_id={RID}", "request_id: given more than once"),
    (f"request_id={RID}&min_version=1&min_version=1", "min_version: given more than once"),
    (f"request_id={RID}%zz", "invalid percent-encoding in the query string"),
], ids=["unknown", "misspelled", "repeated-id", "repeated-min", "bad-escape"])
def test_status_bad_query_is_400(server, query, message):
    assert_status_400(server, query, message)


def test_status_rejected_with_400_closes_nothing(server):
    """A bad lookup changes no state: its request id is not closed."""
    rid = new_request_id("st-400")
    r = get_status(server, rid, min_version="x")
    assert r.status == 400
    r = roundtrip(server, "GET", f"/v1/status?request_id={rid}&bogus=1")
    assert r.status == 400
    v = commit(server, rid)
    assert_status(server, rid, {"status": "committed", "version": v})


def test_status_with_a_percent_encoded_request_id(server):
    rid = "id:with.all_the-chars:0123456789"
    v = commit(server, rid)
    encoded = "".join(f"%{b:02X}" for b in rid.encode())
    r = roundtrip(server, "GET", f"/v1/status?request_id={encoded}")
    assert r.status == 200
    assert r.json() == {"request_id": rid, "status": "committed", "version": v}


def test_status_of_a_request_evicted_from_the_index_is_read_from_the_log(make_checked_server):
    s = make_checked_server("[commit]\nrequest_id_index_entries = 2\n")
    rid = new_request_id("st-evicted")
    v = commit(s, rid)
    for _ in range(3):
        commit(s, new_request_id("st-filler"))
    assert_status(s, rid, {"status": "committed", "version": v}, min_version=0)
    assert_status(s, rid, {"status": "committed", "version": v}, min_version=v - 1)
    unknown = new_request_id("st-evicted-unknown")
    assert_status(s, unknown, {"status": "not_committed"}, min_version=0)


def test_status_lookup_of_an_evicted_commit_leaves_it_committed(make_checked_server):
    """SPEC: a retry of a request id that committed answers 200 duplicate with the original
    version; not_committed means "did not commit and never will". A status lookup that found
    the commit in the log must not turn its retry into not_committed."""
    s = make_checked_server("[commit]\nrequest_id_index_entries = 2\n")
    rid = new_request_id("st-evicted-retry")
    v = commit(s, rid)
    for _ in range(3):
        commit(s, new_request_id("st-filler"))
    assert_status(s, rid, {"status": "committed", "version": v}, min_version=0)
    r = post_commit(s, {"request_id": rid, "operations": [write("k")]})
    assert (r.status, r.json()) == (200, {"request_id": rid, "status": "committed", "version": v,
                                          "duplicate": True, "leader_id": s.leader_id})


def test_status_after_restart_reads_the_log_beyond_the_index(make_checked_server):
    s = make_checked_server("[commit]\nrequest_id_index_entries = 2\n")
    rids = [new_request_id(f"st-restart{i}") for i in range(5)]
    versions = [commit(s, rid) for rid in rids]
    assert s.restart() == 0
    for rid, v in zip(rids, versions):
        assert_status(s, rid, {"status": "committed", "version": v}, min_version=0)


def test_not_committed_stays_final_across_a_restart(make_checked_server):
    """SPEC: not_committed means the request "did not commit and never will"; a restart (a
    new leader) must not reopen a request id that a lookup closed."""
    s = make_checked_server()
    rid = new_request_id("st-closed-restart")
    commit(s, new_request_id("st-other"))
    assert_status(s, rid, {"status": "not_committed"})
    assert s.restart() == 0
    v = latest_version(s)
    r = post_commit(s, {"request_id": rid, "operations": [write("k")]})
    assert r.status == 409, r.body
    assert r.json() == {"request_id": rid, "status": "not_committed", "version": v,
                        "leader_id": s.leader_id}
    assert_status(s, rid, {"status": "not_committed"})


# ---- restart on the same data directory -----------------------------------------------------

RESTART_CONFIG = "[commit]\nconflict_window_seconds = 3600\n"  # no clock in these tests


def history_then_restart(make_checked_server, sig):
    """Commits a small history, stops the server with `sig`, starts it again on the same
    data directory; returns (server, old leader_id, {request_id: version}, last version)."""
    s = make_checked_server(RESTART_CONFIG)
    old_leader = s.leader_id
    committed = {}
    with Client(s) as c:
        for i, ops in enumerate([[write("a", "1")], [write("b", "1"), delete("c")],
                                 [range_delete("x", "y")], [write("a", "2")]]):
            rid = new_request_id(f"before{i}")
            r = c.commit({"request_id": rid, "operations": ops})
            assert r.status == 200, r.body
            committed[rid] = r.json()["version"]
        # A conflict at the end: its version is skipped, never committed.
        r = c.commit({"read_version": min(committed.values()),
                      "preconditions": [point_read("a")]})
        assert r.status == 409
    last = max(committed.values())
    assert latest_version(s) == last
    expected_rc = 0 if sig == signal.SIGTERM else -signal.SIGKILL
    assert s.restart(sig) == expected_rc, "".join(s.log)
    return s, old_leader, committed, last


SIGNALS = pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])


@SIGNALS
def test_restart_versions_continue_and_leader_id_changes(make_checked_server, sig):
    s, old_leader, committed, last = history_then_restart(make_checked_server, sig)
    assert s.leader_id != old_leader
    r = roundtrip(s, "GET", "/v1/version")
    assert r.json() == {"version": last, "leader_id": s.leader_id}
    r = post_commit(s, {"operations": [write("after")]})
    assert r.status == 200 and r.json()["version"] > last
    assert r.json()["leader_id"] == s.leader_id
    assert latest_version(s) == r.json()["version"]


@SIGNALS
def test_restart_old_leader_id_gets_leader_changed(make_checked_server, sig):
    s, old_leader, committed, last = history_then_restart(make_checked_server, sig)
    rid = new_request_id("old-leader")
    r = post_commit(s, {"request_id": rid, "leader_id": old_leader, "operations": [write("a")]})
    assert r.status == 409
    assert r.json() == {"request_id": rid, "status": "leader_changed", "version": last,
                        "leader_id": s.leader_id}
    assert latest_version(s) == last


@SIGNALS
def test_restart_duplicates_from_before_still_answer_duplicate(make_checked_server, sig):
    s, _, committed, last = history_then_restart(make_checked_server, sig)
    for rid, version in committed.items():
        r = post_commit(s, {"request_id": rid, "operations": [write("retry")]})
        assert r.status == 200
        assert r.json() == {"request_id": rid, "status": "committed", "version": version,
                            "duplicate": True, "leader_id": s.leader_id}
    assert latest_version(s) == last


@SIGNALS
def test_restart_status_finds_commits_from_before(make_checked_server, sig):
    s, _, committed, last = history_then_restart(make_checked_server, sig)
    for rid, version in committed.items():
        r = get_status(s, rid)
        assert r.status == 200
        assert r.json() == {"request_id": rid, "status": "committed", "version": version}
    unknown = new_request_id("never-sent")
    assert get_status(s, unknown).json() == {"request_id": unknown, "status": "not_committed"}


@SIGNALS
def test_restart_conflict_window_is_rebuilt_from_the_log(make_checked_server, sig):
    s, _, committed, last = history_then_restart(make_checked_server, sig)
    first = min(committed.values())
    # "a" was last written at `last`, "c" deleted and [x, y) range-deleted before it.
    assert outcome(s, [point_read("a")], first) == "conflict"
    assert outcome(s, [point_read("a")], last) == "committed"
    assert outcome(s, [point_read("c")], first) == "conflict"
    assert outcome(s, [range_read("x\x01", "x\x02")], first) == "conflict"
    assert outcome(s, [point_read("untouched")], first) == "committed"


def test_kill_9_under_load_keeps_every_acknowledged_commit(make_checked_server):
    """Writers commit on 8 connections; once 200 commits are acknowledged the server is
    killed (-9) with more in flight. After a restart every acknowledged commit is there, at
    its version; what was in flight may or may not be."""
    s = make_checked_server(RESTART_CONFIG)
    acked = {}
    lock = threading.Lock()
    enough = threading.Event()
    killed = threading.Event()
    errors_before_kill = []

    def writer(t):
        try:
            with Client(s) as c:
                for i in range(5000):
                    rid = new_request_id(f"w{t}")
                    try:
                        r = c.commit({"request_id": rid, "operations": [write(f"t{t}-{i}", rid)]})
                    except (EOFError, OSError) as e:
                        if not killed.is_set():
                            errors_before_kill.append(repr(e))
                        return
                    if r.status != 200:
                        errors_before_kill.append((r.status, r.body))
                        return
                    with lock:
                        acked[rid] = r.json()["version"]
                        if len(acked) >= 200:
                            enough.set()
        finally:
            enough.set()  # the main thread never waits on a writer that is gone

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    enough.wait()  # set by the 200th acknowledgement, or by a writer that stopped
    killed.set()
    s.proc.send_signal(signal.SIGKILL)
    for t in threads:
        t.join(timeout=SOCKET_TIMEOUT_S)
        assert not t.is_alive(), "a writer is stuck after the kill"
    assert not errors_before_kill, errors_before_kill
    with lock:
        acked = dict(acked)
    assert len(acked) >= 200 and len(set(acked.values())) == len(acked)
    assert s.restart(signal.SIGKILL) == -signal.SIGKILL
    assert latest_version(s) >= max(acked.values())
    with Client(s) as c:
        for rid, version in acked.items():
            r = c.request("GET", f"/v1/status?request_id={rid}")
            assert r.json() == {"request_id": rid, "status": "committed", "version": version}
        for rid, version in list(acked.items())[:20]:
            r = c.commit({"request_id": rid})
            assert r.status == 200 and r.json()["version"] == version
            assert r.json()["duplicate"] is True


