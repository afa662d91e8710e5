"""GET /v1/subscribe (SPEC section 3): the change stream as Server-Sent Events."""
import re
import threading

import pytest

from conftest import (Client, b64, commit_ok, delete, latest_version, new_request_id,
                      range_delete, roundtrip, write)
from sse import SseStream, StreamClosed, assert_chain

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def subscribe(server, query="", headers=None, **kw):
    path = "/v1/subscribe" + ("?" + query if query else "")
    return SseStream(server, path, headers=headers, **kw)


def open_live(server, query="", **kw):
    """A stream that has sent its opening `retry:` and the checkpoint saying it is live."""
    s = subscribe(server, query, **kw)
    assert s.status == 200, s.error_body
    first = s.next_event()
    assert first.retry == 1000, first
    cp = s.next_of(("checkpoint",))
    return s, cp.json()


def commit_n(server, n, key_prefix="k"):
    versions = []
    with Client(server) as c:
        for i in range(n):
            r = c.commit({"request_id": new_request_id("sub"),
                          "operations": [write(f"{key_prefix}{i}", f"value-{i}")]})
            assert r.status == 200, r.body
            versions.append(r.json()["version"])
    return versions


def test_live_stream_shapes(server):
    s, cp = open_live(server)
    with s:
        assert s.headers.get("cache-control") == "no-store"
        assert cp == {"committed_version": 0, "leader_id": server.leader_id}
        rid = new_request_id("shape")
        v = commit_ok(server, {"request_id": rid, "operations": [
            write("a", b"\x00\xff"), delete("b"), range_delete("c", "d"), range_delete("e")]})
        e = s.next_of(("transaction",))
        assert e.id == str(v)
        t = e.json()
        assert t["version"] == v and t["prev_version"] == 0
        assert t["request_id"] == rid and t["leader_id"] == server.leader_id
        assert TIMESTAMP.match(t["timestamp"]), t["timestamp"]
        assert t["operations"] == [
            {"type": "write", "key": b64("a"), "value": b64(b"\x00\xff")},
            {"type": "delete", "key": b64("b")},
            {"type": "range_delete", "begin": b64("c"), "end": b64("d")},
            {"type": "range_delete", "begin": b64("e")},
        ]


def test_catch_up_then_live_without_gap(server):
    before = commit_n(server, 40)
    s = subscribe(server, "after=0")
    with s:
        assert s.status == 200
        got = s.transactions_until(before[-1])
        # The checkpoint that marks the end of catch-up, then live commits.
        cp = s.next_of(("checkpoint",)).json()
        assert cp["committed_version"] >= before[-1]
        after = commit_n(server, 10, "live")
        got += s.transactions_until(after[-1])
        assert [t["version"] for t in got] == before + after
        assert_chain(got, 0)


def test_after_in_the_middle(server):
    versions = commit_n(server, 10)
    with subscribe(server, f"after={versions[4]}") as s:
        got = s.transactions_until(versions[-1])
        assert [t["version"] for t in got] == versions[5:]
        assert got[0]["prev_version"] == versions[4]


def test_last_event_id_wins_over_after(server):
    versions = commit_n(server, 6)
    with subscribe(server, "after=0", headers={"Last-Event-ID": str(versions[2])}) as s:
        got = s.transactions_until(versions[-1])
        assert [t["version"] for t in got] == versions[3:]


def test_resume_across_restart_nothing_missed_or_repeated(server):
    first = commit_n(server, 20)
    seen = []
    with subscribe(server, "after=0") as s:
        seen += s.transactions_until(first[11])
        last_id = seen[-1]["version"]
    assert server.restart() == 0
    more = commit_n(server, 5, "after-restart")
    # The new process serves everything after the last id from its log (catch-up), then live.
    with subscribe(server, "", headers={"Last-Event-ID": str(last_id)}) as s:
        seen += s.transactions_until(more[-1])
        live = commit_n(server, 3, "live")
        seen += s.transactions_until(live[-1])
    assert [t["version"] for t in seen] == first + more + live
    assert_chain(seen, 0)
    leaders = {t["leader_id"] for t in seen}
    assert len(leaders) == 2 and server.leader_id in leaders


def test_stream_ends_cleanly_on_shutdown(make_server):
    server = make_server()
    s, _ = open_live(server)
    with s:
        v = commit_n(server, 1)[0]
        assert s.transactions_until(v)[0]["version"] == v
        assert server.stop() == 0
        with pytest.raises(StreamClosed):
            while True:
                s.next_event()
        assert s.clean_end


def test_filter_sends_only_matching_operations(server):
    s, _ = open_live(server, f"begin={b64('m')}&end={b64('n')}")
    with s:
        v1 = commit_ok(server, {"operations": [write("a"), write("m1"), write("z")]})
        commit_ok(server, {"operations": [write("a2")]})  # touches nothing in [m, n)
        v3 = commit_ok(server, {"operations": [range_delete("b", "mm")]})
        v4 = commit_ok(server, {"operations": [range_delete("x")]})  # [x, +inf) misses [m, n)
        v5 = commit_ok(server, {"operations": [range_delete("k")]})  # [k, +inf) covers it
        got = s.transactions_until(v5)
        assert [t["version"] for t in got] == [v1, v3, v5]
        assert got[0]["operations"] == [write("m1")]
        assert got[1]["operations"] == [range_delete("b", "mm")]
        # prev_version is the previous committed transaction, not the previous one sent.
        assert got[1]["prev_version"] == v3 - 1
        assert v4 not in [t["version"] for t in got]


def test_filter_with_only_begin(server):
    s, _ = open_live(server, f"begin={b64('q')}")
    with s:
        commit_ok(server, {"operations": [write("p")]})
        v = commit_ok(server, {"operations": [write("q")]})
        got = s.transactions_until(v)
        assert [t["version"] for t in got] == [v]


def test_non_durable_stream_gets_checkpoints(server):
    s, cp = open_live(server, "durable=false")
    with s:
        v = commit_n(server, 3)[-1]
        got = []
        checkpoint = cp["committed_version"]
        while checkpoint < v or not got or got[-1]["version"] < v:
            e = s.next_of(("transaction", "checkpoint"))
            if e.event == "transaction":
                got.append(e.json())
            else:
                checkpoint = e.json()["committed_version"]
                assert e.json()["leader_id"] == server.leader_id
        assert [t["version"] for t in got] == [v - 2, v - 1, v]


@pytest.mark.parametrize("query,headers,field", [
    ("after=abc", None, "after"),
    ("after=-1", None, "after"),
    ("after=99", None, "after: future_version"),
    ("durable=yes", None, "durable"),
    ("begin=%21%21", None, "begin: invalid base64"),
    ("end=YQ", None, "end: invalid base64"),
    ("begin=Yg%3D%3D&end=YQ%3D%3D", None, "end: must be greater than begin"),
    ("begin=YQ%3D%3D&end=YQ%3D%3D", None, "end: must be greater than begin"),
    ("bogus=1", None, "bogus"),
    ("after=1&after=2", None, "after"),
    ("", {"Last-Event-ID": "x1"}, "Last-Event-ID"),
    ("after=0", {"Last-Event-ID": "77"}, "Last-Event-ID: future_version"),
])
def test_bad_requests_name_the_field(server, query, headers, field):
    r = roundtrip(server, "GET", "/v1/subscribe?" + query, headers=headers)
    assert r.status == 400, (r.status, r.body)
    j = r.json()
    assert j["error"] == "bad_request" and field in j["message"], j


def test_wrong_method(server):
    r = roundtrip(server, "POST", "/v1/subscribe", body=b"")
    assert r.status == 405 and "GET" in r.header("Allow")


def test_head_validates_without_streaming(server):
    r = roundtrip(server, "HEAD", "/v1/subscribe?after=0")
    assert r.status == 200 and r.header("Content-Type") == "text/event-stream"
    assert roundtrip(server, "HEAD", "/v1/subscribe?after=5").status == 400


def test_http10_stream_is_close_delimited(server):
    v = commit_n(server, 2)[-1]
    with server.connect() as sock:
        sock.sendall(b"GET /v1/subscribe?after=0 HTTP/1.0\r\n\r\n")
        data = b""
        while data.count(b"event: checkpoint") < 1:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        assert b"Transfer-Encoding" not in head and b"Content-Length" not in head
        assert body.startswith(b"retry: 1000\n\n")
        assert f"id: {v}\n".encode() in body


def test_subscriber_metrics(server):
    s, _ = open_live(server)
    with s:
        r = roundtrip(server, "GET", "/metrics")
        assert b"weaseldb_subscribers 1\n" in r.body
    s2, _ = open_live(server)
    s2.close()
    # The hub notices the hang-up; the gauge and the disconnect counter follow.
    for _ in range(2000):  # bounded-poll: the hub thread handles the hang-up asynchronously
        body = roundtrip(server, "GET", "/metrics").body
        if b"weaseldb_subscribers 0\n" in body and \
                b'weaseldb_subscriber_disconnects_total{reason="client_closed"} 2\n' in body:
            break
    else:
        raise AssertionError(body.decode())
    assert b"weaseldb_subscription_bytes_sent_total" in body


def test_concurrent_commits_and_joining_subscribers_see_exact_history(server):
    """Subscribers join at different points while four writers commit at full speed; each sees
    exactly the history after its starting point: no gap, no duplicate, in order."""
    stop_at = 600
    done = threading.Event()
    errors = []

    def writer(n):
        try:
            with Client(server) as c:
                for i in range(stop_at // 4):
                    r = c.commit({"operations": [write(f"w{n}-{i}", "x" * 50)]})
                    assert r.status == 200, r.body
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    streams = []
    for i in range(6):
        after = latest_version(server) // (2 if i % 2 else 1)
        streams.append((after, subscribe(server, f"after={after}&durable={'false' if i == 5 else 'true'}")))
    for t in threads:
        t.join()
    done.set()
    assert not errors, errors
    final = latest_version(server)
    assert final == stop_at
    for after, s in streams:
        with s:
            got = s.transactions_until(final)
            assert_chain(got, after)
            assert [t["version"] for t in got] == list(range(after + 1, final + 1))
