"""Serializability under concurrency: concurrent read-modify-write bank transfers, then a
replay of the committed history from the log proves that no transfer committed on stale reads.

16 clients, each on its own keep-alive connection, move money between 100 accounts (10 of them
hot). There is no read endpoint yet, so reads come from what clients learned from
acknowledgements:
- a shared board holds, per account, the balance written by the highest acknowledged version
  that wrote it, and that version: an honest but possibly stale read source, like a lagging
  replica (a commit may be durable before its client has posted it);
- each client reads from its own cache, which it refreshes from the board only for the
  accounts a 409 names, so clients often act on stale balances.
A transfer reads both accounts (balance, version), and commits the two new balances with
preconditions on both accounts at exactly the version the balance it read was written at
(point_read or range_read, with its own version or read_version). If the server let a stale
read through, the transfer would write a balance computed from an old one: money would
appear or vanish.

After a clean stop the log (weasel_log_dump) is replayed in version order and checked:
- the chain of versions is intact; every 200 is logged at its version with exactly the
  operations sent, every 409 is not, and nothing else is;
- every committed transaction's preconditions hold: nothing committed between the version a
  precondition read at and the transaction's own version wrote the account;
- every 409 conflict is real: something committed after the precondition's version wrote it;
- every transfer wrote exactly (balance before it in the replayed history) -/+ its amount, no
  balance is negative, and the total is conserved.
"""
import random
import tempfile
import threading

from test_crash import (JOIN_TIMEOUT_S, Client, DataDirServer, b64, check_chain,
                        check_conflicts_are_real, check_preconditions, dump_log,
                        index_by_request_id, unb64)

ACCOUNTS = 100
HOT_ACCOUNTS = 10
INITIAL_BALANCE = 1000
CLIENTS = 16
TRANSFERS_PER_CLIENT = 150
SEED = 5150


def account_key(i):
    return b"acct/%03d" % i


def account_of(key):
    return int(key[len(b"acct/"):])


class Board:
    """Per account, the balance written by the highest acknowledged version, and that version."""

    def __init__(self, seed_version):
        self.lock = threading.Lock()
        self.accounts = {i: (INITIAL_BALANCE, seed_version) for i in range(ACCOUNTS)}

    def post(self, account, balance, version):
        with self.lock:
            if version > self.accounts[account][1]:
                self.accounts[account] = (balance, version)

    def read(self, account):
        with self.lock:
            return self.accounts[account]


class Transfer:
    def __init__(self, rid, body, source, target, amount):
        self.rid, self.body = rid, body
        self.source, self.target, self.amount = source, target, amount
        self.status = self.reply = None


def pick_account(rng):
    return rng.randrange(HOT_ACCOUNTS) if rng.random() < 0.3 else rng.randrange(ACCOUNTS)


def read_preconditions(rng, reads):
    """Preconditions on [(account, version), ...] in that order, in the request's every form:
    point or range reads, with their own version or the request's read_version."""
    body = {}
    preconditions = []
    for n, (account, version) in enumerate(reads):
        key = account_key(account)
        p = ({"type": "point_read", "key": b64(key)} if rng.random() < 0.7 else
             {"type": "range_read", "begin": b64(key), "end": b64(key + b"\0")})
        if n == 0 and rng.random() < 0.3:
            body["read_version"] = version  # the precondition's version defaults to it
        else:
            p["version"] = version
        preconditions.append(p)
    body["preconditions"] = preconditions
    return body


def run_client(port, c, board, seed_version, transfers, errors):
    rng = random.Random(f"{SEED}/{c}")
    cache = {i: (INITIAL_BALANCE, seed_version) for i in range(ACCOUNTS)}
    client = Client(port)
    try:
        for n in range(TRANSFERS_PER_CLIENT):
            source = pick_account(rng)
            target = pick_account(rng)
            if target == source:
                target = (source + 1 + rng.randrange(ACCOUNTS - 1)) % ACCOUNTS
            if rng.random() < 0.8:  # mostly a fresh read; otherwise what this client knew
                cache[source], cache[target] = board.read(source), board.read(target)
            (source_balance, source_version) = cache[source]
            (target_balance, target_version) = cache[target]
            amount = min(rng.randint(1, 50), source_balance)
            rid = f"serial-{SEED}-c{c:02d}-{n:05d}"
            body = {"request_id": rid,
                    **read_preconditions(rng, [(source, source_version),
                                               (target, target_version)]),
                    "operations": [
                        {"type": "write", "key": b64(account_key(source)),
                         "value": b64(b"%d" % (source_balance - amount))},
                        {"type": "write", "key": b64(account_key(target)),
                         "value": b64(b"%d" % (target_balance + amount))}]}
            t = Transfer(rid, body, source, target, amount)
            transfers.append(t)
            t.status, t.reply = client.commit(body)
            if t.status == 200 and t.reply["status"] == "committed":
                v = t.reply["version"]
                cache[source] = (source_balance - amount, v)
                cache[target] = (target_balance + amount, v)
                board.post(source, source_balance - amount, v)
                board.post(target, target_balance + amount, v)
            elif t.status == 409 and t.reply["status"] in ("conflict", "too_old"):
                stale = ([source, target][i] for i in t.reply["conflicts"]) \
                    if t.reply["status"] == "conflict" else (source, target)
                for account in stale:
                    cache[account] = board.read(account)
            else:
                errors.append(f"{rid}: unexpected answer {t.status} {t.reply}")
                return
    except (EOFError, OSError) as e:
        errors.append(f"client {c}: connection failed: {e!r}")
    finally:
        client.close()


def seed_accounts(server):
    rid = f"serial-{SEED}-seed-accounts"
    body = {"request_id": rid,
            "operations": [{"type": "write", "key": b64(account_key(i)),
                            "value": b64(b"%d" % INITIAL_BALANCE)} for i in range(ACCOUNTS)]}
    client = Client(server.port)
    try:
        status, reply = client.commit(body)
    finally:
        client.close()
    assert status == 200 and reply["status"] == "committed", (status, reply)
    return rid, body, reply["version"]


def run_transfers(server, seed_version):
    board = Board(seed_version)
    per_client = [[] for _ in range(CLIENTS)]
    errors = []
    threads = [threading.Thread(target=run_client,
                                args=(server.port, c, board, seed_version, per_client[c], errors))
               for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=JOIN_TIMEOUT_S)
        assert not t.is_alive(), "a client thread hangs"
    assert not errors, "\n".join(errors[:20])
    return [t for transfers in per_client for t in transfers]


def replay_balances(txns, seed_rid, transfers_by_rid):
    """Replays the log's balances; every transfer must have written what it read -/+ amount."""
    assert txns[0]["request_id"] == seed_rid
    balances = {account_of(unb64(op["key"])): int(unb64(op["value"]))
                for op in txns[0]["operations"]}
    assert balances == {i: INITIAL_BALANCE for i in range(ACCOUNTS)}
    for txn in txns[1:]:
        t = transfers_by_rid[txn["request_id"]]
        written = {account_of(unb64(op["key"])): int(unb64(op["value"]))
                   for op in txn["operations"]}
        expected = {t.source: balances[t.source] - t.amount,
                    t.target: balances[t.target] + t.amount}
        assert written == expected, (
            f"version {txn['version']} ({t.rid}) moved {t.amount} from account {t.source} to "
            f"{t.target} and wrote {written}, but the committed history before it holds "
            f"{t.source}: {balances[t.source]}, {t.target}: {balances[t.target]}: it committed "
            f"on a stale read")
        assert min(written.values()) >= 0, (txn["version"], written)
        balances.update(written)
    assert sum(balances.values()) == ACCOUNTS * INITIAL_BALANCE, "money was created or lost"


def test_concurrent_transfers_are_serializable():
    with tempfile.TemporaryDirectory(prefix="weaseldb-serial-") as root:
        # A long conflict window: an account untouched for a while must still be checkable,
        # never too_old, so every 409 here is a real conflict.
        server = DataDirServer(root, "[commit]\nconflict_window_seconds = 600\n")
        try:
            server.start()
            seed_rid, seed_body, seed_version = seed_accounts(server)
            transfers = run_transfers(server, seed_version)
            server.stop()
            txns = dump_log(server.log_dir)
        finally:
            server.close()

    by_rid_sent = {t.rid: t for t in transfers}
    sent = {t.rid: t.body for t in transfers}
    sent[seed_rid] = seed_body
    check_chain(txns)
    logged = index_by_request_id(txns, sent)
    committed = [t for t in transfers if t.status == 200]
    conflicts = {t.rid: t.reply for t in transfers if t.status == 409}
    for t in committed:
        assert t.rid in logged and logged[t.rid]["version"] == t.reply["version"], (
            f"{t.rid} acknowledged at {t.reply['version']} but logged as {logged.get(t.rid)}")
    for rid, reply in conflicts.items():
        assert reply["status"] == "conflict", reply
        assert rid not in logged, f"{rid} was refused ({reply}) but is in the log"
    assert len(logged) == len(committed) + 1, "the log holds transactions nobody was told of"
    checked = check_preconditions(txns, sent)
    check_conflicts_are_real(txns, sent, conflicts)
    replay_balances(txns, seed_rid, by_rid_sent)

    # The workload must have raced for real: both outcomes, in numbers.
    total = CLIENTS * TRANSFERS_PER_CLIENT
    assert len(transfers) == total
    assert len(committed) >= total // 10, f"only {len(committed)} of {total} transfers committed"
    assert conflicts, "no transfer ever conflicted: the clients never raced"
    print(f"{len(committed)} transfers committed, {len(conflicts)} conflicted, "
          f"{checked} preconditions checked, versions {txns[0]['version']}..{txns[-1]['version']}")
