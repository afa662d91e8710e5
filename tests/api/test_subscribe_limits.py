"""GET /v1/subscribe under pressure: slow consumers, keepalives and idle checkpoints, and
history truncated by retention (410 up front, an error event for a stream caught behind it)."""
from conftest import Client, roundtrip, write
from sse import SseStream, assert_chain


def metric(server, line_prefix):
    body = roundtrip(server, "GET", "/metrics").body.decode()
    for line in body.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split(" ")[1])
    raise AssertionError(f"{line_prefix} not in /metrics")


def commit_value(client, key, size):
    r = client.commit({"operations": [write(key, "x" * size)]})
    assert r.status == 200, r.body
    return r.json()["version"]


def test_slow_consumer_is_cut_off_without_hurting_others(make_checked_server):
    server = make_checked_server("[subscription]\nmax_buffer_size_bytes = 65536\n")
    slow = SseStream(server, "/v1/subscribe?after=0", rcvbuf=4096)
    fast = SseStream(server, "/v1/subscribe?after=0")
    assert slow.status == 200 and fast.status == 200
    received_fast = []
    with Client(server) as c:
        for i in range(2000):  # bounded: ~100 commits of 50 KB overflow any socket buffers
            v = commit_value(c, f"k{i}", 50_000)
            # The fast subscriber reads in step with the commits.
            received_fast += fast.transactions_until(v)
            if metric(server, 'weaseldb_subscriber_disconnects_total{reason="slow_consumer"}') >= 1:
                break
        else:
            raise AssertionError("the slow subscriber was never cut off")
    last = v
    # The slow client now reads what it was sent: a gap-free prefix, then the error event.
    got = []
    while True:
        e = slow.next_of(("transaction", "error"))
        if e.event == "error":
            break
        got.append(e.json())
    err = e.json()
    assert err["error"] == "slow_consumer" and "max_buffer_size_bytes" in err["message"]
    assert got and err["resume_after"] == got[-1]["version"]
    assert_chain(got, 0)
    assert slow.at_eof()
    slow.close()
    # Resuming after resume_after misses nothing.
    with SseStream(server, f"/v1/subscribe?after={err['resume_after']}") as resumed:
        rest = resumed.transactions_until(last)
    assert [t["version"] for t in got + rest] == list(range(1, last + 1))
    # The fast one saw everything and is still open.
    assert [t["version"] for t in received_fast] == list(range(1, last + 1))
    fast.close()


def test_keepalive_comments_and_idle_checkpoints(make_checked_server):
    server = make_checked_server(
        "[subscription]\nkeepalive_interval_seconds = 1\ncheckpoint_interval_ms = 10\n")
    with SseStream(server, "/v1/subscribe") as s:
        assert s.next_of(("checkpoint",)).json()["committed_version"] == 0
        with Client(server) as c:
            v = commit_value(c, "k", 10)
        assert s.next_of(("transaction",)).json()["version"] == v
        # Idle: a checkpoint naming the new committed version, then keepalives.
        assert s.next_of(("checkpoint",)).json()["committed_version"] == v
        # Checkpoints only repeat when the version moved: the next thing is a keepalive.
        e = s.next_event()
        assert e.comment == "keepalive", e


SMALL_SEGMENTS = "[log]\nsegment_bytes = 1048576\n"


def pin(server, version):
    """Sets the only retention policy to keep everything after `version` (the truncation
    job runs at once after a change)."""
    r = roundtrip(server, "PUT", "/v1/retention/pin", body=f'{{"after_version": {version}}}')
    assert r.status in (200, 201), (r.status, r.body)


def wait_oldest_above(server, version):
    for _ in range(100_000):  # bounded-poll: the truncation job runs after the policy change
        r = roundtrip(server, "GET", "/v1/retention/")
        assert r.status == 200, r.body
        oldest = r.json()["oldest_version"]
        if oldest > version:
            return oldest
    raise AssertionError(f"oldest_version never rose above {version}")


def test_truncated_history_is_410_and_ends_a_stream_caught_behind_it(make_checked_server):
    server = make_checked_server(SMALL_SEGMENTS)
    with Client(server) as c:
        # ~10 MB in 1 MiB segments: more history after the pin (40) than a stream that does
        # not read can take in (about 1 MiB queued plus what the sockets hold).
        for i in range(210):
            commit_value(c, f"a{i}", 50_000)
    pin(server, 40)  # drops the segments wholly at or below 40, and no more
    oldest = wait_oldest_above(server, 0)
    assert oldest <= 40
    # A restart empties the hub's memory, so history now comes from the log only.
    assert server.restart() == 0

    r = roundtrip(server, "GET", "/v1/subscribe?after=0")
    assert r.status == 410, (r.status, r.body)
    assert r.json()["error"] == "log_truncated" and 0 < r.json()["oldest_version"] <= 40

    # A stream starting at the pinned floor catches up from the log; it does not read, so it
    # stays behind while retention moves on.
    oldest = 40
    behind = SseStream(server, f"/v1/subscribe?after={oldest}", rcvbuf=4096)
    assert behind.status == 200
    with Client(server) as c:
        for i in range(200):  # ~10 MB, far beyond what the stream could have buffered
            last = commit_value(c, f"b{i}", 50_000)
    pin(server, last - 30)
    wait_oldest_above(server, 210)
    got = []
    while True:
        e = behind.next_of(("transaction", "error"))
        if e.event == "error":
            break
        got.append(e.json())
    err = e.json()
    assert err["error"] == "log_truncated" and err["oldest_version"] > 210
    assert_chain(got, oldest)
    assert behind.at_eof()
    behind.close()
