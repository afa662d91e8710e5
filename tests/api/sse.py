"""A small, strict Server-Sent Events client for the subscription tests.

It speaks raw HTTP/1.1 over a socket (so tests control buffering and can stop reading), decodes
the chunked body incrementally, and parses SSE per the HTML standard: `field: value` lines,
events ending at a blank line, `:` comments. Every read is bounded by the socket timeout, so a
stream that stalls fails the test instead of hanging it.
"""
import json
import socket

from conftest import SOCKET_TIMEOUT_S, HttpReader, request_bytes


class Event:
    def __init__(self, event, id, data, comment=None, retry=None):
        self.event = event
        self.id = id
        self.data = data
        self.comment = comment
        self.retry = retry

    def json(self):
        return json.loads(self.data)

    def __repr__(self):
        return f"Event({self.event!r}, id={self.id!r}, data={self.data!r}, comment={self.comment!r})"


class StreamClosed(Exception):
    pass


class SseStream:
    def __init__(self, server, path="/v1/subscribe", headers=None, rcvbuf=None, port=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(SOCKET_TIMEOUT_S)
        if rcvbuf is not None:
            # Before connect, so the window is small from the start (a slow reader).
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port if port is not None else server.port))
        self.sock.sendall(request_bytes("GET", path, headers=headers))
        self.reader = HttpReader(self.sock)
        self.response = None
        self.status = None
        self._body = b""
        self._chunked = False
        self._chunk_left = 0
        self._eof = False
        self.clean_end = None
        self._read_head()

    def _read_head(self):
        status_line = self.reader._line()
        self.status = int(status_line.split(" ", 2)[1])
        headers = {}
        while True:
            line = self.reader._line()
            if not line:
                break
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        self.headers = headers
        if self.status != 200:
            length = int(headers.get("content-length", "0"))
            self.error_body = self.reader._exact(length)
            return
        assert headers["content-type"] == "text/event-stream", headers
        self._chunked = headers.get("transfer-encoding", "").lower() == "chunked"

    def error_json(self):
        return json.loads(self.error_body)

    def _more_body(self):
        """Reads more of the body into self._body; raises StreamClosed at its end (`clean` is
        False when the connection dropped without the body's proper end)."""
        if self._eof:
            raise StreamClosed()
        try:
            self._read_body()
        except (EOFError, ConnectionResetError):
            self._eof = True
            self.clean_end = not self._chunked
            raise StreamClosed()

    def _read_body(self):
        if not self._chunked:
            if not self.reader.buf:
                self.reader._fill()
            self._body += self.reader.buf
            self.reader.buf = b""
            return
        if self._chunk_left == 0:
            line = self.reader._line()
            size = int(line.split(";")[0], 16)
            if size == 0:
                while self.reader._line():
                    pass
                self._eof = True
                self.clean_end = True
                raise StreamClosed()
            self._chunk_left = size
        data = self.reader._exact(self._chunk_left)
        self._chunk_left = 0
        assert self.reader._exact(2) == b"\r\n"
        self._body += data

    def next_event(self):
        """The next event or comment; raises StreamClosed when the stream ends."""
        event, id_, data, comment, retry = None, None, [], None, None
        while True:
            while b"\n" not in self._body:
                self._more_body()
            line, self._body = self._body.split(b"\n", 1)
            line = line.decode()
            if line == "":
                if event is None and not data and comment is None and id_ is None and retry is None:
                    continue
                return Event(event or "message", id_, "\n".join(data), comment, retry)
            if line.startswith(":"):
                comment = line[1:].strip()
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                id_ = value
            elif field == "retry":
                retry = int(value)
            else:
                raise AssertionError(f"unexpected SSE field {line!r}")

    def next_of(self, kinds):
        """The next event whose type is in `kinds` (skipping comments and other events)."""
        while True:
            e = self.next_event()
            if e.comment is None and e.event in kinds:
                return e

    def transactions_until(self, version):
        """Transaction events up to and including `version` (the last must be exactly it)."""
        out = []
        while True:
            e = self.next_of(("transaction", "error"))
            assert e.event == "transaction", e
            t = e.json()
            out.append(t)
            if t["version"] >= version:
                assert t["version"] == version, (t["version"], version)
                return out

    def at_eof(self):
        try:
            self.next_event()
            return False
        except StreamClosed:
            return True

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def assert_chain(transactions, after):
    """Versions strictly increase and each prev_version is the previous version: nothing was
    missed or repeated since `after`."""
    prev = after
    for t in transactions:
        assert t["prev_version"] == prev, (t, prev)
        assert t["version"] > prev, (t, prev)
        prev = t["version"]
    return prev
