"""HTTP/1.1 behaviour of the real server over TCP: keep-alive, pipelining, chunked bodies,
every protocol error, limits, many connections, unix sockets."""
import socket
import threading

from conftest import HttpReader, SOCKET_TIMEOUT_S, request_bytes, roundtrip


def test_version_and_health(server):
    r = roundtrip(server, "GET", "/v1/version")
    assert r.status == 200
    assert r.header("content-type") == "application/json"
    body = r.json()
    assert body["version"] == 0
    assert body["leader_id"] == server.leader_id and len(body["leader_id"]) >= 16
    assert r.header("date").endswith("GMT")
    h = roundtrip(server, "GET", "/health")
    assert h.status == 200
    assert h.json() == {"status": "ok", "version": 0, "leader_id": server.leader_id}


def test_leader_id_changes_every_start(make_server):
    a = make_server()
    first = roundtrip(a, "GET", "/v1/version").json()["leader_id"]
    a.stop()
    b = make_server()
    assert roundtrip(b, "GET", "/v1/version").json()["leader_id"] != first


def test_head_has_no_body(server):
    with server.connect() as s:
        s.sendall(request_bytes("HEAD", "/v1/version") + request_bytes("GET", "/v1/version"))
        reader = HttpReader(s)
        head = reader.read_response(head=True)
        assert head.status == 200 and int(head.header("content-length")) > 0
        # The next response starts right after the HEAD headers: no body bytes were sent.
        assert reader.read_response().json()["version"] >= 0


def test_keep_alive_many_requests_one_connection(server):
    with server.connect() as s:
        reader = HttpReader(s)
        for _ in range(100):
            s.sendall(request_bytes("GET", "/v1/version"))
            r = reader.read_response()
            assert r.status == 200 and r.header("connection") != "close"


def test_pipelining_answers_in_order(server):
    paths = ["/v1/version", "/health", "/nope", "/v1/version", "/metrics"] * 20
    with server.connect() as s:
        s.sendall(b"".join(request_bytes("GET", p) for p in paths))
        reader = HttpReader(s)
        statuses = [reader.read_response().status for _ in paths]
    expected = {"/v1/version": 200, "/health": 200, "/nope": 404, "/metrics": 200}
    assert statuses == [expected[p] for p in paths]


def test_request_split_into_single_bytes(server):
    with server.connect() as s:
        for b in request_bytes("GET", "/v1/version", headers={"X-Long": "y" * 300}):
            s.sendall(bytes([b]))
        assert HttpReader(s).read_response().status == 200


def test_chunked_request_body_then_next_request(server):
    body = b'{"operations": []}'
    chunked = (b"5;ext=1\r\n" + body[:5] + b"\r\n" + f"{len(body) - 5:x}\r\n".encode() +
               body[5:] + b"\r\n0\r\nX-Trailer: t\r\n\r\n")
    req = request_bytes("POST", "/v1/commit", headers={"Transfer-Encoding": "chunked"})
    with server.connect() as s:
        s.sendall(req + chunked + request_bytes("GET", "/v1/version"))
        reader = HttpReader(s)
        first = reader.read_response()
        # The body was decoded exactly (it is a valid empty commit) and consumed exactly: the
        # pipelined GET that follows is answered.
        assert first.status == 200 and first.json()["status"] == "committed"
        assert reader.read_response().json()["version"] >= 0


def test_expect_100_continue(server):
    body = b"{}"
    head = ("POST /v1/commit HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with server.connect() as s:
        s.sendall(head)
        reader = HttpReader(s)
        assert reader.read_response().status == 100
        s.sendall(body)
        assert reader.read_response().status == 200


def test_http10_closes_unless_keep_alive(server):
    with server.connect() as s:
        s.sendall(request_bytes("GET", "/v1/version", version="HTTP/1.0"))
        reader = HttpReader(s)
        r = reader.read_response()
        assert r.status == 200
        assert reader.at_eof()
    with server.connect() as s:
        s.sendall(request_bytes("GET", "/v1/version", headers={"Connection": "keep-alive"},
                                version="HTTP/1.0"))
        reader = HttpReader(s)
        assert reader.read_response().header("connection").lower() == "keep-alive"
        s.sendall(request_bytes("GET", "/v1/version", headers={"Connection": "keep-alive"},
                                version="HTTP/1.0"))
        assert reader.read_response().status == 200


def test_connection_close(server):
    with server.connect() as s:
        s.sendall(request_bytes("GET", "/v1/version", headers={"Connection": "close"}))
        reader = HttpReader(s)
        r = reader.read_response()
        assert r.status == 200 and r.header("connection") == "close"
        assert reader.at_eof()


def assert_error(r, status, code):
    assert r.status == status, (r.status, r.body)
    assert r.header("content-type") == "application/json"
    body = r.json()
    assert body["error"] == code and body["message"], body


def test_not_found_and_method_not_allowed_keep_the_connection(server):
    with server.connect() as s:
        reader = HttpReader(s)
        s.sendall(request_bytes("GET", "/v2/nothing"))
        assert_error(reader.read_response(), 404, "not_found")
        s.sendall(request_bytes("DELETE", "/v1/version"))
        r = reader.read_response()
        assert_error(r, 405, "method_not_allowed")
        assert r.header("allow") == "GET, HEAD"
        s.sendall(request_bytes("GET", "/v1/commit"))
        r = reader.read_response()
        assert_error(r, 405, "method_not_allowed")
        assert r.header("allow") == "POST"
        s.sendall(request_bytes("POST", "/v1/retention/", body="{}"))
        assert reader.read_response().header("allow") == "GET, HEAD"
        s.sendall(request_bytes("GET", "/v1/version"))
        assert reader.read_response().status == 200


def test_unimplemented_routes_answer_501(server):
    for method, path in [("GET", "/v1/read?key=a"), ("GET", "/v1/range?begin=a")]:
        body = b"{}" if method in ("POST", "PUT") else None
        assert_error(roundtrip(server, method, path, body=body), 501, "not_implemented")


def raw_error(server, data, status, code):
    """Sends bytes that the server must reject, then checks it answers and closes."""
    with server.connect() as s:
        s.sendall(data)
        reader = HttpReader(s)
        assert_error(reader.read_response(), status, code)
        assert reader.at_eof()


def test_malformed_request_is_400_and_closes(server):
    raw_error(server, b"GARBAGE\r\n\r\n", 400, "bad_request")
    raw_error(server, b"GET /v1/version HTTP/1.1\r\nBad Header\r\n\r\n", 400, "bad_request")
    raw_error(server, b"POST /v1/commit HTTP/1.1\r\nContent-Length: 2\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n", 400, "bad_request")
    raw_error(server, b"POST /v1/commit HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400,
              "bad_request")
    raw_error(server, b"POST /v1/commit HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
              400, "bad_request")


def test_post_without_length_is_411(server):
    raw_error(server, b"POST /v1/commit HTTP/1.1\r\nHost: x\r\n\r\n", 411, "length_required")


def test_uri_too_long_is_414(server):
    raw_error(server, b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n", 414, "uri_too_long")


def test_headers_too_large_is_431(server):
    raw_error(server, b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n", 431,
              "header_too_large")


def test_body_too_large_is_413_before_the_body_is_sent(server):
    # Only the headers are sent: the server must answer without waiting for 2 MiB of body.
    raw_error(server, b"POST /v1/commit HTTP/1.1\r\nContent-Length: 2097152\r\n\r\n", 413,
              "content_too_large")


def test_chunked_body_too_large_is_413(make_server):
    s = make_server("[server]\nmax_request_size_bytes = 1024\n")
    chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
    raw_error(s, b"POST /v1/commit HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2,
              413, "content_too_large")


def test_bad_request_does_not_affect_other_connections(server):
    with server.connect() as good:
        reader = HttpReader(good)
        good.sendall(request_bytes("GET", "/v1/version"))
        assert reader.read_response().status == 200
        raw_error(server, b"\x00\x01\x02 nonsense\r\n\r\n", 400, "bad_request")
        good.sendall(request_bytes("GET", "/v1/version"))
        assert reader.read_response().status == 200


def test_many_concurrent_connections(server):
    failures = []
    n_threads, conns_per_thread, requests_per_conn = 16, 8, 10
    start = threading.Barrier(n_threads)

    def worker():
        try:
            start.wait()
            socks = [server.connect() for _ in range(conns_per_thread)]
            readers = [HttpReader(s) for s in socks]
            for _ in range(requests_per_conn):
                for s in socks:
                    s.sendall(request_bytes("GET", "/v1/version"))
                for r in readers:
                    assert r.read_response().status == 200
            for s in socks:
                s.close()
        except Exception as e:  # collected and reported by the main thread
            failures.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_max_connections_refuses_without_harming_others(make_server):
    s = make_server("[server]\nmax_connections = 4\n")
    held = [s.connect() for _ in range(4)]
    readers = [HttpReader(c) for c in held]
    # Make sure all four are accepted before the fifth arrives.
    for c, r in zip(held, readers):
        c.sendall(request_bytes("GET", "/v1/version"))
        assert r.read_response().status == 200
    with s.connect() as extra:
        extra_reader = HttpReader(extra)
        r = extra_reader.read_response()
        assert_error(r, 503, "overloaded")
        assert r.header("retry-after")
        assert extra_reader.at_eof()
    for c, r in zip(held, readers):
        c.sendall(request_bytes("GET", "/v1/version"))
        assert r.read_response().status == 200
    held[0].close()
    # A slot is free again once the server has seen the close; a request on a new connection
    # succeeds within a bounded number of attempts.
    for _ in range(1000):  # bounded-poll: the close is processed asynchronously
        with s.connect() as again:
            reader = HttpReader(again)
            again.sendall(request_bytes("GET", "/v1/version"))
            try:
                if reader.read_response().status == 200:
                    break
            except (EOFError, ConnectionResetError):
                continue
    else:
        raise AssertionError("no connection slot became free after closing one")


def test_idle_connection_is_closed(make_server):
    s = make_server("[server]\nidle_timeout_seconds = 1\n")
    with s.connect() as c:
        reader = HttpReader(c)
        c.sendall(request_bytes("GET", "/v1/version"))
        assert reader.read_response().status == 200
        # Blocking read: the server closes the idle connection (bounded by SOCKET_TIMEOUT_S).
        assert reader.at_eof()


def test_unix_socket_interface(make_server, tmp_path):
    path = tmp_path / "weasel.sock"
    cfg = f"""
[[server.interfaces]]
type = "tcp"
host = "127.0.0.1"
port = 0

[[server.interfaces]]
type = "unix"
path = "{path}"
"""
    s = make_server(cfg, listen=None, listeners=2)
    assert f"unix:{path}" in s.addresses
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(SOCKET_TIMEOUT_S)
        c.connect(str(path))
        c.sendall(request_bytes("GET", "/v1/version"))
        assert HttpReader(c).read_response().json()["version"] == 0
