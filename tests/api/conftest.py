"""Fixtures for the API tests: they start the real weaseldb binary on a free loopback port.

The server is started with --listen 127.0.0.1:0 and the test reads its log (blocking) until it
says where it listens, so there is no port race and no waiting on a clock.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import tempfile

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
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.log = []
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
