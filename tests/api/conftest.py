"""Fixtures for the API tests: they start the real weaseldb binary on a free loopback port.

The server is started with --listen 127.0.0.1:0 and the test reads its log (blocking) until it
says where it listens, so there is no port race and no waiting on a clock.
"""
import base64
import itertools
import json
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import urllib.parse
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("WEASELDB_BIN", str(ROOT / "build" / "release" / "weaseldb"))
# Every socket operation in these tests is bounded: a hung server fails the test instead of
# hanging CI.
SOCKET_TIMEOUT_S = 30


class Server:
    def __init__(self, config_text="", extra_args=(), listen="127.0.0.1:0", listeners=1):
        self.listeners = listeners
        self.tmp = tempfile.TemporaryDirectory(prefix="weaseldb-test-")
        self.data_dir = os.path.join(self.tmp.name, "data")
        self.config_path = os.path.join(self.tmp.name, "weaseldb.toml")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        args = [BINARY, "--config", self.config_path, "--data", self.data_dir]
        if listen:
            args += ["--listen", listen]
        args += list(extra_args)
        self.args = args
        self.log = []
        self._spawn()

    def _spawn(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.addresses = []
        self.leader_id = None
        self._read_until_listening()

    def _read_until_listening(self):
        for line in self.proc.stdout:
            self.log.append(line)
            if "listening on " in line:
                addr = line.split("listening on ", 1)[1].split(" ", 1)[0]
                self.addresses.append(addr)
                self.leader_id = line.rsplit("leader_id ", 1)[1].rstrip(")\n")
                if len(self.addresses) == self.listeners:
                    return
        raise AssertionError("server exited before listening:\n" + "".join(self.log))

    @property
    def port(self):
        tcp = [a for a in self.addresses if not a.startswith("unix:")]
        return int(tcp[0].rsplit(":", 1)[1])

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=SOCKET_TIMEOUT_S)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rest, _ = self.proc.communicate(timeout=SOCKET_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _ = self.proc.communicate()
            raise AssertionError("server did not stop on SIGTERM")
        self.log.append(rest or "")
        self.tmp.cleanup()
        return self.proc.returncode

    def restart(self, sig=signal.SIGTERM):
        """Stops the process with `sig` (SIGTERM: graceful, SIGKILL: a crash) and starts a new
        one with the same arguments, config and data directory. Returns the old process's exit
        status (0 after SIGTERM, -9 after SIGKILL). The new process listens on a new port."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rest, _ = self.proc.communicate(timeout=SOCKET_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _ = self.proc.communicate()
            raise AssertionError(f"server did not stop on signal {sig}")
        self.log.append(rest or "")
        returncode = self.proc.returncode
        self._spawn()
        return returncode


@pytest.fixture
def server():
    s = Server()
    yield s
    assert s.stop() == 0, "".join(s.log)


@pytest.fixture
def make_server():
    started = []

    def make(config_text="", **kw):
        s = Server(config_text, **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def make_checked_server():
    """Like make_server, but every server it started must stop cleanly (SIGTERM, exit 0): a
    sanitizer report, a leak or a crash in the server fails the test."""
    started = []

    def make(config_text="", **kw):
        s = Server(config_text, **kw)
        started.append(s)
        return s

    yield make
    failures = []
    for s in started:
        rc = s.stop()
        if rc != 0:
            failures.append(f"server exited with {rc}:\n" + "".join(s.log))
    assert not failures, "\n".join(failures)


class Response:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


class HttpReader:
    """Reads HTTP/1.1 responses (Content-Length or chunked) from a blocking socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, head=False):
        status_line = self._line()
        version, status, reason = (status_line.split(" ", 2) + [""])[:3]
        assert version in ("HTTP/1.1", "HTTP/1.0"), status_line
        headers = {}
        while True:
            line = self._line()
            if not line:
                break
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        status = int(status)
        if head or status in (100, 204, 304):
            return Response(status, reason, headers, b"")
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._line().split(";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._exact(size)
                assert self._exact(2) == b"\r\n"
            return Response(status, reason, headers, body)
        length = int(headers.get("content-length", "0"))
        return Response(status, reason, headers, self._exact(length))

    def at_eof(self):
        """True when the server closed the connection with nothing more to read."""
        if self.buf:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def request_bytes(method, path, body=None, headers=None, version="HTTP/1.1"):
    lines = [f"{method} {path} {version}", "Host: localhost"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None and "Transfer-Encoding" not in (headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode()
    if body is not None:
        data += body if isinstance(body, bytes) else body.encode()
    return data


def roundtrip(server, method, path, body=None, headers=None):
    with server.connect() as s:
        s.sendall(request_bytes(method, path, body, headers))
        return HttpReader(s).read_response(head=(method == "HEAD"))


# ---- helpers for the commit and status API tests ----------------------------------------------

_request_id_counter = itertools.count()


def b64(data):
    """Standard padded base64 of bytes (or of a str's UTF-8 bytes), as the API expects."""
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def new_request_id(tag="t"):
    """A valid request id (20..128 chars of [A-Za-z0-9._:-]), unique in this test run."""
    rid = f"{tag}-{os.getpid()}-{next(_request_id_counter):08d}-{uuid.uuid4().hex[:8]}"
    return rid if len(rid) >= 20 else rid + "x" * (20 - len(rid))


def commit_body(body):
    """The bytes of a commit body: a dict is JSON-encoded, str/bytes are sent as they are."""
    if isinstance(body, dict):
        return json.dumps(body).encode()
    return body if isinstance(body, bytes) else body.encode()


def post_commit(server, body):
    return roundtrip(server, "POST", "/v1/commit", commit_body(body),
                     {"Content-Type": "application/json"})


def get_status(server, request_id, min_version=None):
    path = "/v1/status?request_id=" + urllib.parse.quote(request_id, safe="")
    if min_version is not None:
        path += f"&min_version={min_version}"
    return roundtrip(server, "GET", path)


def latest_version(server):
    r = roundtrip(server, "GET", "/v1/version")
    assert r.status == 200, (r.status, r.body)
    return r.json()["version"]


class Client:
    """One keep-alive connection, for tests that send many requests in a row."""

    def __init__(self, server):
        self.sock = server.connect()
        self.reader = HttpReader(self.sock)

    def request(self, method, path, body=None, headers=None):
        self.sock.sendall(request_bytes(method, path, body, headers))
        return self.reader.read_response(head=(method == "HEAD"))

    def commit(self, body):
        return self.request("POST", "/v1/commit", commit_body(body),
                            {"Content-Type": "application/json"})

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# Commit request builders: keys and values are bytes (or str, UTF-8), sent as base64.



def write(key, value=b"v"):
    return {"type": "write", "key": b64(key), "value": b64(value)}


def delete(key):
    return {"type": "delete", "key": b64(key)}


def range_delete(begin, end=None):
    op = {"type": "range_delete", "begin": b64(begin)}
    if end is not None:
        op["end"] = b64(end)
    return op


def point_read(key, version=None):
    p = {"type": "point_read", "key": b64(key)}
    if version is not None:
        p["version"] = version
    return p


def range_read(begin, end=None, version=None):
    p = {"type": "range_read", "begin": b64(begin)}
    if end is not None:
        p["end"] = b64(end)
    if version is not None:
        p["version"] = version
    return p


def commit_ok(server, body):
    """Commits `body` (a dict) and returns its version; fails the test on any other answer."""
    r = post_commit(server, body)
    assert r.status == 200, (r.status, r.body)
    j = r.json()
    assert j["status"] == "committed" and "duplicate" not in j, j
    return j["version"]


def outcome(server, preconditions, read_version=None, operations=()):
    """Commits a transaction with these preconditions; returns its status ("committed",
    "conflict", ...). Without operations a committed probe changes no key."""
    body = {"preconditions": list(preconditions), "operations": list(operations)}
    if read_version is not None:
        body["read_version"] = read_version
    r = post_commit(server, body)
    assert r.status in (200, 409), (r.status, r.body)
    return r.json()["status"]
