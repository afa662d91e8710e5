"""The log's disk fills up: commits get 503 at once (never hang, never a false 200), /health
turns 503, and the server stays up and stops cleanly. Uses a tiny tmpfs (the tests run as
root, as CI does)."""
import base64
import json
import os
import subprocess
import tempfile

import pytest

from conftest import HttpReader, Server, request_bytes


@pytest.fixture
def tiny_disk():
    mount_point = tempfile.mkdtemp(prefix="weaseldb-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mount_point],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"cannot mount a tmpfs (tests need root): {r.stderr}"
    yield mount_point
    subprocess.run(["umount", mount_point], check=True)
    os.rmdir(mount_point)


def commit(reader, sock, body):
    sock.sendall(request_bytes("POST", "/v1/commit", body=json.dumps(body)))
    return reader.read_response()


def test_disk_full_fails_commits_and_health(tiny_disk):
    s = Server(f'[log]\npath = "{tiny_disk}/log"\nsegment_bytes = 1048576\n')
    try:
        value = base64.b64encode(os.urandom(60000)).decode()
        with s.connect() as c:
            reader = HttpReader(c)
            acknowledged = []
            failure = None
            for i in range(200):  # 3 MiB fills after ~50 commits of 60 kB
                key = base64.b64encode(f"key-{i}".encode()).decode()
                r = commit(reader, c, {"operations": [{"type": "write", "key": key,
                                                       "value": value}]})
                if r.status == 200:
                    acknowledged.append(r.json()["version"])
                    continue
                failure = r
                break
            assert failure is not None, "the 3 MiB disk never filled"
            assert failure.status == 503
            assert failure.json()["error"] == "overloaded"
            assert failure.header("retry-after")
            assert acknowledged, "no commit succeeded before the disk filled"
            # Later commits fail at once too, instead of hanging.
            r = commit(reader, c, {"operations": []})
            assert r.status == 503
            c.sendall(request_bytes("GET", "/health"))
            h = reader.read_response()
            assert h.status == 503 and h.json()["status"] == "unavailable"
            c.sendall(request_bytes("GET", "/v1/version"))
            v = reader.read_response()
            # The reported version is the last durable one: what was acknowledged, no more.
            assert v.status == 200 and v.json()["version"] == acknowledged[-1]
    finally:
        assert s.stop() == 0, "".join(s.log)
