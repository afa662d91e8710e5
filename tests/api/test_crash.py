"""Crash test: kill -9 the server under concurrent commit load, restart it on the same data
directory, and prove from the log (weasel_log_dump) that nothing acknowledged was lost and
nothing was half-applied.

Each cycle starts (or restarts) the server, settles the commits whose answer the kill swallowed
(half by GET /v1/status, half by sending them again: both answers are final and must agree with
the log), then runs writer threads that pipeline commits on their own keep-alive connections.
The thread that receives the k-th acknowledgement (k drawn from a seeded RNG) kills the server
with SIGKILL while the others keep committing. After each restart, GET /v1/version must be at
least every acknowledged version and a new commit must succeed above it. After the last cycle
the server is stopped cleanly and the whole history is checked:
- the log opens (no corruption), its versions increase strictly and chain (prev_version) across
  every restart, and each incarnation's transactions follow the previous one's;
- every acknowledged commit is in the log at its version, written by the leader that
  acknowledged it; every refused one (409, 503) is not;
- every logged transaction is one a client sent, exactly once, with exactly the operations
  sent (nothing half-applied), and is accounted for: acknowledged, or settled as committed;
- every committed transaction's preconditions hold against the log in version order (the
  conflict window is rebuilt correctly after a restart), and every 409 conflict is real.

WEASEL_CRASH_CYCLES (default 3) and WEASEL_CRASH_SEED choose the cycles and the workload;
scripts/crash-test.sh runs many cycles. The helpers here (a server on a data directory that
survives it, a pipelining client, the log dump and the history checks) are shared with
test_serializability.py.
"""
import base64
import bisect
import collections
import json
import os
import pathlib
import random
import signal
import socket
import subprocess
import tempfile
import threading

from conftest import BINARY, SOCKET_TIMEOUT_S, HttpReader, request_bytes

LOG_DUMP = os.environ.get("WEASEL_LOG_DUMP_BIN",
                          str(pathlib.Path(BINARY).parent / "weasel_log_dump"))
CYCLES = int(os.environ.get("WEASEL_CRASH_CYCLES", "3"))
SEED = int(os.environ.get("WEASEL_CRASH_SEED", "20261121"))
# Bounds every wait on a thread or a process: a hang fails the test with a message.
JOIN_TIMEOUT_S = 4 * SOCKET_TIMEOUT_S


# ---- a server whose data directory outlives it ------------------------------------------

class DataDirServer:
    """The real binary on a data directory that survives kills and restarts.

    Its output is read until it says where it listens, then drained by a thread, so a chatty
    server never blocks on a full pipe.
    """

    def __init__(self, root, config_text=""):
        self.data_dir = os.path.join(root, "data")
        self.config_path = os.path.join(root, "weaseldb.toml")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.proc = None
        self.log = []
        self.leader_ids = []  # one per start, in order

    @property
    def log_dir(self):
        return os.path.join(self.data_dir, "log")

    def start(self):
        assert self.proc is None, "already running"
        self.proc = subprocess.Popen(
            [BINARY, "--config", self.config_path, "--data", self.data_dir,
             "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.log.append(f"---- start {len(self.leader_ids) + 1}\n")
        for line in self.proc.stdout:
            self.log.append(line)
            if "listening on " in line:
                addr = line.split("listening on ", 1)[1].split(" ", 1)[0]
                self.port = int(addr.rsplit(":", 1)[1])
                self.leader_id = line.rsplit("leader_id ", 1)[1].rstrip(")\n")
                break
        else:
            self.proc.wait(timeout=SOCKET_TIMEOUT_S)
            self.proc = None
            raise AssertionError("server exited before listening:\n" + self.output())
        assert self.leader_id not in self.leader_ids, "leader_id reused across starts"
        self.leader_ids.append(self.leader_id)
        self._drain = threading.Thread(target=self._drain_output, args=(self.proc.stdout,),
                                       daemon=True)
        self._drain.start()

    def _drain_output(self, stream):
        for line in stream:
            self.log.append(line)

    def output(self):
        return "".join(self.log[-200:])

    def kill(self):
        """SIGKILL; safe from any thread, and more than once."""
        self.proc.send_signal(signal.SIGKILL)

    def _reap(self, expected_returncode, what):
        try:
            code = self.proc.wait(timeout=SOCKET_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=SOCKET_TIMEOUT_S)
            raise AssertionError(f"server did not exit after {what}:\n" + self.output())
        self._drain.join(timeout=SOCKET_TIMEOUT_S)
        assert not self._drain.is_alive(), "server output still open after it exited"
        self.proc = None
        assert code == expected_returncode, (
            f"server exited with {code} after {what} (expected {expected_returncode}):\n"
            + self.output())

    def wait_killed(self):
        self._reap(-signal.SIGKILL, "SIGKILL")

    def stop(self):
        """SIGTERM, which must finish in-flight work and exit 0."""
        self.proc.send_signal(signal.SIGTERM)
        self._reap(0, "SIGTERM")

    def close(self):
        """Teardown: whatever state the test failed in, leave no process behind."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=SOCKET_TIMEOUT_S)
            self.proc = None


class Client:
    """One keep-alive connection; commits may be pipelined (answers come back in order)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = HttpReader(self.sock)

    def send_commit(self, body):
        self.sock.sendall(request_bytes("POST", "/v1/commit", json.dumps(body),
                                        {"Content-Type": "application/json"}))

    def read(self):
        r = self.reader.read_response()
        return r.status, r.json()

    def commit(self, body):
        self.send_commit(body)
        return self.read()

    def get(self, path):
        self.sock.sendall(request_bytes("GET", path))
        return self.read()

    def close(self):
        self.sock.close()


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text, validate=True)


def dump_log(log_dir):
    """Every transaction in the log, in version order (the server must be stopped)."""
    r = subprocess.run([LOG_DUMP, "--log", log_dir], capture_output=True, text=True,
                       timeout=JOIN_TIMEOUT_S)
    assert r.returncode == 0, f"weasel_log_dump failed ({r.returncode}): {r.stderr}"
    return [json.loads(line) for line in r.stdout.splitlines()]


# ---- history checks (shared with test_serializability.py) ---------------------------------

def check_chain(txns):
    """Versions strictly increase and each transaction names its predecessor."""
    prev = 0
    for t in txns:
        assert t["prev_version"] == prev and t["version"] > prev, (
            f"log chain broken at version {t['version']}: prev_version {t['prev_version']}, "
            f"previous transaction {prev}")
        prev = t["version"]


def index_by_request_id(txns, sent):
    """{request_id: txn}; every logged transaction was sent, once, with exactly its operations."""
    by_rid = {}
    for t in txns:
        rid = t["request_id"]
        assert rid not in by_rid, (
            f"request_id {rid} logged twice: versions {by_rid[rid]['version']} and {t['version']}")
        assert rid in sent, f"version {t['version']}: request_id {rid} was never sent"
        assert t["operations"] == sent[rid]["operations"], (
            f"version {t['version']} ({rid}) differs from what was sent:\n"
            f"logged {t['operations']}\nsent   {sent[rid]['operations']}")
        by_rid[rid] = t
    return by_rid


def _precondition_range(p):
    """(begin, end) bytes of a precondition, end None for the end of the key space."""
    if p["type"] == "point_read":
        key = unb64(p["key"])
        return key, key + b"\0"
    return unb64(p["begin"]), (unb64(p["end"]) if "end" in p else None)


def _operation_range(op):
    if op["type"] == "range_delete":
        return unb64(op["begin"]), (unb64(op["end"]) if "end" in op else None)
    key = unb64(op["key"])
    return key, key + b"\0"


def _overlaps(b1, e1, b2, e2):
    return (e2 is None or b1 < e2) and (e1 is None or b2 < e1)


class WriteHistory:
    """Every range the log wrote (writes, deletes, range deletes), in version order, to ask:
    did anything committed in (low, high] write into [begin, end)?"""

    def __init__(self):
        self.versions = []  # sorted, one per entry
        self.ranges = []    # (begin, end or None)

    def add(self, txn):
        for op in txn["operations"]:
            self.versions.append(txn["version"])
            self.ranges.append(_operation_range(op))

    def writer_in(self, begin, end, low, high):
        """The first version in (low, high] that wrote into [begin, end), or None."""
        i = bisect.bisect_right(self.versions, low)
        while i < len(self.versions) and self.versions[i] <= high:
            if _overlaps(begin, end, *self.ranges[i]):
                return self.versions[i]
            i += 1
        return None


def precondition_versions(body):
    """The version each precondition of a commit body is checked at."""
    return [p.get("version", body.get("read_version")) for p in body.get("preconditions", [])]


def check_preconditions(txns, sent):
    """Every committed transaction's preconditions hold in version order: for a precondition
    read at version r, nothing committed in (r, version) wrote what it covers. Returns how many
    preconditions were checked."""
    history = WriteHistory()
    checked = 0
    for t in txns:
        body = sent[t["request_id"]]
        for i, (p, r) in enumerate(zip(body.get("preconditions", []),
                                       precondition_versions(body))):
            writer = history.writer_in(*_precondition_range(p), r, t["version"])
            assert writer is None, (
                f"version {t['version']} ({t['request_id']}) committed although its "
                f"precondition {i} {p}, read at {r}, was overwritten at version {writer}")
            checked += 1
        history.add(t)
    return checked


def check_conflicts_are_real(txns, sent, conflicts):
    """Each 409 conflict names only preconditions that something committed after their version,
    and no later than the latest version the answer reported, wrote into."""
    history = WriteHistory()
    for t in txns:
        history.add(t)
    for rid, reply in conflicts.items():
        body = sent[rid]
        versions = precondition_versions(body)
        assert reply["conflicts"], f"{rid}: a conflict without failing preconditions: {reply}"
        for i in reply["conflicts"]:
            p = body["preconditions"][i]
            writer = history.writer_in(*_precondition_range(p), versions[i],
                                       reply["version"])
            assert writer is not None, (
                f"{rid}: precondition {i} {p} reported as a conflict, but nothing wrote it in "
                f"({versions[i]}, {reply['version']}]")


# ---- the crash workload -------------------------------------------------------------------

THREADS = 8
PIPELINE_DEPTH = 4
HOT_KEYS = [b"ck/%03d" % i for i in range(64)]
COLD_KEYS = [b"cold/%04d" % i for i in range(1000)]


def random_key(rng):
    """Mostly a hot key (writes collide), some cold ones (preconditions on them mostly hold),
    some arbitrary bytes (the empty key too)."""
    x = rng.random()
    if x < 0.8:
        return rng.choice(HOT_KEYS)
    if x < 0.9:
        return rng.choice(COLD_KEYS)
    return rng.randbytes(rng.randrange(0, 40))


def random_cold_range(rng):
    a, b = sorted(rng.sample(COLD_KEYS, 2))
    return a, b if rng.random() < 0.2 else a + b"/" + rng.randbytes(1)


def random_range(rng):
    """A narrow, non-empty [begin, end): wide ones would overwrite every key."""
    a = random_key(rng)
    return a, a + rng.randbytes(rng.randint(1, 3))


def random_operations(rng):
    ops = []
    for _ in range(rng.randint(1, 8)):
        kind = rng.random()
        if kind < 0.7:
            size = rng.randrange(0, 200) if rng.random() < 0.8 else rng.randrange(1000, 8000)
            ops.append({"type": "write", "key": b64(random_key(rng)),
                        "value": b64(rng.randbytes(size))})
        elif kind < 0.9:
            ops.append({"type": "delete", "key": b64(random_key(rng))})
        else:
            # Mostly inside the hot keys: wide ranges would overwrite the cold keys, and
            # preconditions on them would never hold.
            kind = rng.random()
            if kind < 0.85:
                a, b = sorted(rng.sample(HOT_KEYS, 2))
            elif kind < 0.95:
                a, b = random_range(rng)
            else:
                a, b = b"zz/" + rng.randbytes(4), None  # to the end of the key space
            op = {"type": "range_delete", "begin": b64(a)}
            if b is not None:
                op["end"] = b64(b)
            ops.append(op)
    return ops


class CrashLedger:
    """What every client sent and was told, over all cycles; shared by the writer threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = {}        # request_id -> body
        self.acked = {}       # request_id -> (version, leader_id)
        self.refused = {}     # request_id -> (http status, reply)
        self.settled = {}     # request_id -> (how, version or None): final answer after restart
        self.conflicts = {}   # request_id -> 409 conflict reply
        self.versions = []    # acknowledged versions, for preconditions to read at
        self.errors = []      # unexpected answers or failures seen by threads

    def record_answer(self, rid, status, reply, leader_id):
        with self.lock:
            if status == 200 and reply.get("status") == "committed":
                self.acked[rid] = (reply["version"], leader_id)
                self.versions.append(reply["version"])
                if reply.get("duplicate") or reply.get("leader_id") != leader_id:
                    self.errors.append(f"{rid}: unexpected answer {reply}")
            elif status == 409 and reply.get("status") in ("conflict", "too_old"):
                self.refused[rid] = (status, reply)
                if reply["status"] == "conflict":
                    self.conflicts[rid] = reply
            elif status == 503:
                self.refused[rid] = (status, reply)
            else:
                self.errors.append(f"{rid}: unexpected answer {status} {reply}")


def make_commit(rng, rid, ledger):
    body = {"request_id": rid, "operations": random_operations(rng)}
    with ledger.lock:
        known = ledger.versions[-200:]
    if known and rng.random() < 0.3:
        # Preconditions at versions acknowledged recently, maybe before the last crash: they
        # commit or conflict, and the history check proves the server chose soundly.
        # Mostly cold keys, so that a fair share of them commits.
        body["preconditions"] = [
            {"type": "point_read", "key": b64(rng.choice(COLD_KEYS) if rng.random() < 0.8
                                              else random_key(rng)),
             "version": rng.choice(known)}
            for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.3:
            a, b = random_cold_range(rng) if rng.random() < 0.8 else random_range(rng)
            body["read_version"] = rng.choice(known)
            body["preconditions"].append({"type": "range_read", "begin": b64(a), "end": b64(b)})
    with ledger.lock:
        ledger.sent[rid] = body
    return body


def writer(server, ledger, cycle, thread, kill_at, acks, killed, in_doubt):
    """Pipelines commits until the server dies; the k-th acknowledgement overall kills it."""
    rng = random.Random(f"{SEED}/{cycle}/{thread}")
    pending = collections.deque()
    per_thread_max = kill_at  # bounds the run: together the threads send 8x what is needed
    sent = 0
    client = None
    try:
        client = Client(server.port)
        while True:
            while len(pending) < PIPELINE_DEPTH and sent < per_thread_max and not killed.is_set():
                rid = f"crash-{SEED}-c{cycle:03d}-t{thread:02d}-{sent:06d}"
                client.send_commit(make_commit(rng, rid, ledger))
                pending.append(rid)
                sent += 1
            if not pending:
                return
            status, reply = client.read()
            rid = pending.popleft()
            ledger.record_answer(rid, status, reply, server.leader_id)
            if status == 200:
                with acks["lock"]:
                    acks["count"] += 1
                    if acks["count"] == kill_at:
                        server.kill()
                        killed.set()
    except TimeoutError:
        ledger.errors.append(f"thread {thread}: no answer within {SOCKET_TIMEOUT_S} s")
    except (EOFError, OSError) as e:
        if not killed.is_set():
            ledger.errors.append(f"thread {thread}: connection failed before the kill: {e!r}")
    finally:
        if client is not None:
            client.close()
        with ledger.lock:
            in_doubt.extend(pending)


def run_until_killed(server, ledger, cycle, kill_at):
    """Concurrent commit load; returns the request ids whose answers the kill swallowed."""
    acks = {"lock": threading.Lock(), "count": 0}
    killed = threading.Event()
    in_doubt = []
    threads = [threading.Thread(target=writer,
                                args=(server, ledger, cycle, t, kill_at, acks, killed, in_doubt))
               for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=JOIN_TIMEOUT_S)
        assert not t.is_alive(), f"cycle {cycle}: a writer thread hangs"
    assert not ledger.errors, (f"cycle {cycle}: " + "\n".join(ledger.errors[:20])
                               + "\nserver output:\n" + server.output())
    assert killed.is_set(), (f"cycle {cycle}: only {acks['count']} commits acknowledged, "
                             f"never reached the kill point {kill_at}")
    server.wait_killed()
    return sorted(in_doubt)


def settle_in_doubt(server, ledger, in_doubt, boot_version, rng):
    """Gets a final answer for each commit whose answer the kill swallowed: a status lookup
    (which closes the id) or the same commit again (idempotent by request_id)."""
    client = Client(server.port)
    try:
        for rid in in_doubt:
            if rng.random() < 0.5:
                status, reply = client.get(f"/v1/status?request_id={rid}")
                assert status == 200 and reply["request_id"] == rid, (rid, status, reply)
                if reply["status"] == "committed":
                    # Only the killed process can have committed it: the lookup closed the id.
                    assert reply["version"] <= boot_version, (rid, reply, boot_version)
                    ledger.settled[rid] = ("status", reply["version"])
                else:
                    assert reply["status"] == "not_committed", (rid, reply)
                    ledger.settled[rid] = ("status", None)
                continue
            status, reply = client.commit(ledger.sent[rid])
            if status == 200:
                assert reply["status"] == "committed", (rid, reply)
                # A duplicate is the killed process's commit; a fresh one is this process's.
                if reply.get("duplicate"):
                    assert reply["version"] <= boot_version, (rid, reply, boot_version)
                    ledger.settled[rid] = ("resent-duplicate", reply["version"])
                else:
                    assert reply["version"] > boot_version, (rid, reply, boot_version)
                    ledger.acked[rid] = (reply["version"], server.leader_id)
                    ledger.settled[rid] = ("resent-fresh", reply["version"])
            else:
                assert status == 409 and reply["status"] in ("conflict", "too_old"), (
                    rid, status, reply)
                ledger.settled[rid] = ("resent-refused", None)
                if reply["status"] == "conflict":
                    ledger.conflicts[rid] = reply
    finally:
        client.close()


def restart_checks(server, ledger, cycle, rng):
    """After a (re)start: versions continue above everything acknowledged, and commits work."""
    client = Client(server.port)
    try:
        status, reply = client.get("/v1/version")
        assert status == 200 and reply["leader_id"] == server.leader_id, reply
        boot_version = reply["version"]
        highest_acked = max((v for v, _ in ledger.acked.values()), default=0)
        assert boot_version >= highest_acked, (
            f"cycle {cycle}: restarted at version {boot_version}, below the acknowledged "
            f"version {highest_acked}")
        rid = f"crash-{SEED}-c{cycle:03d}-probe-000000"
        body = make_commit(rng, rid, ledger)
        body.pop("preconditions", None)
        body.pop("read_version", None)
        status, reply = client.commit(body)
        assert status == 200 and reply["status"] == "committed", (status, reply)
        assert reply["version"] > boot_version, (reply, boot_version)
        ledger.acked[rid] = (reply["version"], server.leader_id)
        return boot_version
    finally:
        client.close()


def check_history(txns, ledger, leader_ids):
    check_chain(txns)
    by_rid = index_by_request_id(txns, ledger.sent)
    for rid, (version, leader_id) in ledger.acked.items():
        assert rid in by_rid, f"acknowledged commit {rid} at version {version} is not in the log"
        t = by_rid[rid]
        assert t["version"] == version, (
            f"{rid}: acknowledged at {version}, logged at {t['version']}")
        assert t["leader_id"] == leader_id, (rid, t["leader_id"], leader_id)
    for rid, (status, reply) in ledger.refused.items():
        assert rid not in by_rid, f"{rid} was refused ({status} {reply}) but is in the log"
    committed = set(ledger.acked)
    for rid, (how, version) in ledger.settled.items():
        if version is None:
            assert rid not in by_rid, f"{rid} settled as not committed ({how}) but is logged"
        else:
            assert rid in by_rid and by_rid[rid]["version"] == version, (rid, how, version)
            committed.add(rid)
    unaccounted = set(by_rid) - committed
    assert not unaccounted, f"logged but neither acknowledged nor settled: {sorted(unaccounted)}"
    # Each incarnation's transactions follow the previous one's.
    order = [leader_ids.index(t["leader_id"]) for t in txns]
    assert order == sorted(order), "transactions of an older leader after a newer leader's"
    check_conflicts_are_real(txns, ledger.sent, ledger.conflicts)
    return check_preconditions(txns, ledger.sent)


def test_kill9_under_commit_load_loses_no_acknowledged_commit():
    assert CYCLES >= 1, f"WEASEL_CRASH_CYCLES={CYCLES}: at least one kill"
    rng = random.Random(SEED)
    ledger = CrashLedger()
    in_doubt = []
    with tempfile.TemporaryDirectory(prefix="weaseldb-crash-") as root:
        # Small segments: the kills land in every phase of a segment's life, rolls included.
        server = DataDirServer(root, "[log]\nsegment_bytes = 1048576\n")
        try:
            for cycle in range(CYCLES + 1):
                server.start()
                boot_version = restart_checks(server, ledger, cycle, rng)
                settle_in_doubt(server, ledger, in_doubt, boot_version, rng)
                if cycle == CYCLES:
                    break
                in_doubt = run_until_killed(server, ledger, cycle, rng.randint(20, 400))
            server.stop()
            txns = dump_log(server.log_dir)
        finally:
            server.close()
        preconditions = check_history(txns, ledger, server.leader_ids)
        segments = sum(1 for n in os.listdir(server.log_dir) if n.endswith(".log"))
    # The workload must have exercised what the checks are about.
    assert preconditions > 0, "no commit with preconditions committed: nothing was checked"
    assert ledger.conflicts, "no commit conflicted: the writers never raced"
    settled = collections.Counter(how if version is None else how + "@committed"
                                  for how, version in ledger.settled.values())
    print(f"\nseed {SEED}: {CYCLES} kills; {len(txns)} transactions logged; "
          f"{len(ledger.acked)} acknowledged; {len(ledger.refused)} refused "
          f"({len(ledger.conflicts)} conflicts); settled after a kill: {dict(settled)}; "
          f"{preconditions} preconditions checked; {segments} segments")
