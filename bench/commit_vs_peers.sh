#!/usr/bin/env bash
# Durable small commits: weaseldb vs etcd vs Redis, side by side in one run.
#
# Every request is one optimistic read-check plus one write of a random 16-byte key with a
# 100-byte value, answered only once durable, driven by load_tester with the same
# connections, threads, warm-up and duration on every system:
#   weaseldb  POST /v1/commit (1 point_read precondition + 1 write), log.sync = true (default)
#   etcd      POST /v3/kv/txn (compare mod_revision + put) on its JSON gateway, one node
#   Redis     EVALSHA of a compare-and-set Lua script, appendonly yes + appendfsync always
# Runs alternate (weaseldb, etcd, Redis, weaseldb with hot keys) for N rounds so that machine
# noise hits all alike; figures are medians over rounds, ratios the median of per-round
# ratios. Around each weaseldb run the script reads /metrics and reports the group commit
# (mean transactions per log batch) and the mean log sync time. With 2+ CPUs the servers are
# pinned to CPU 0 and load_tester to the others. Each run also reports, from
# /proc/PID/task/*/schedstat, the server's CPU time and run-queue wait (thread-seconds per
# second, all threads): a server that waits for a CPU more than it runs is starved by other
# processes, not limited by its own code. --nice N runs the servers and load_tester at nice N,
# each in its own session whose autogroup gets nice N too (negative needs root), to shield
# all of them alike from other work on a shared machine.
# --strace adds one weaseldb run under `strace -c -f` (slower: it says where the time goes,
# not how fast it is).
#
# Usage: bench/commit_vs_peers.sh [--rounds N] [--connections C] [--threads T]
#            [--duration S] [--warmup S] [--keys N] [--hot-fraction F] [--hot-keys N]
#            [--no-hot] [--no-pin] [--nice N] [--strace]
# Build first: ./scripts/build.sh release weaseldb load_tester
# Peers: ./scripts/install-deps.sh bench (etcd-server, redis-server)
set -euo pipefail
BENCH_NAME=commit_vs_peers
source "$(dirname "$0")/common.sh"

rounds=3
connections=64
threads=1
duration=10
warmup=2
keys=1000000
hot_fraction=0.1
hot_keys=10
hot=1
pin=1
use_strace=0
niceness=""
while (($#)); do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --hot-fraction) hot_fraction=$2; shift 2 ;;
    --hot-keys) hot_keys=$2; shift 2 ;;
    --no-hot) hot=0; shift ;;
    --no-pin) pin=0; shift ;;
    --nice) niceness=$2; shift 2 ;;
    --strace) use_strace=1; shift ;;
    -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$duration" =~ ^[1-9][0-9]*$ && "$warmup" =~ ^[0-9]+$ ]] ||
  die "--rounds and --duration take positive integers, --warmup a non-negative one"

WEASELDB=${WEASELDB:-$BENCH_ROOT/build/release/weaseldb}
LOAD_TESTER=${LOAD_TESTER:-$BENCH_ROOT/build/release/load_tester}
require_file "$WEASELDB" "build it: ./scripts/build.sh release weaseldb"
require_file "$LOAD_TESTER" "build it: ./scripts/build.sh release load_tester"
for tool in etcd redis-server redis-cli curl; do
  command -v "$tool" >/dev/null || die "$tool not installed (scripts/install-deps.sh bench)"
done
if ((use_strace)); then command -v strace >/dev/null || die "strace not installed"; fi

[[ -z "$niceness" || "$niceness" =~ ^-?[0-9]+$ ]] || die "--nice takes an integer"

set_pin_and_priority "$pin" "$niceness"

weasel_port=$(free_port)
start_weaseldb "$weasel_port"
etcd_port=$(free_port)
start_etcd "$etcd_port" "$(free_port)"
redis_port=$(free_port)
start_redis "$redis_port"

echo "weaseldb $("$WEASELDB" --version 2>&1 | head -n 1) (1 I/O thread, log.sync = true)"
echo "$(etcd --version | head -n 1) (one node, default durability)"
echo "redis $(redis-server --version | awk '{print $3}') (appendonly yes, appendfsync always)"
echo "load_tester -c$connections -t$threads --warmup ${warmup}s --duration ${duration}s" \
  "--keys $keys, 16-byte keys, 100-byte values  rounds $rounds  server prefix '${SERVER_PIN:-}'"

results="$bench_tmp/results.jsonl"
: >"$results"


# The figures: `report run NAME ROUND JSON BEFORE AFTER SCHED_BEFORE SCHED_AFTER` prints one
# JSON line (the run's figures, the server's CPU and run-queue wait from two schedstat()
# snapshots, and the /metrics deltas when BEFORE and AFTER are non-empty scrapes), `report
# line JSONLINE` one human line, `report summary RESULTS HOT_FRACTION HOT_KEYS` the medians,
# ratios and RESULT lines.
report() {
  "$PYTHON" - "$@" <<'EOF'
import collections, json, re, statistics, sys

def metrics(path):
    """{(name, labels): value} of a Prometheus text scrape; {} for an empty file."""
    out = {}
    for line in open(path):
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$', line.strip())
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out

def histogram(before, after, name):
    """count, sum and cumulative (le, count) buckets of NAME between two scrapes."""
    delta = lambda key: after.get(key, 0.0) - before.get(key, 0.0)
    buckets = sorted(
        (float(re.search(r'le="([^"]+)"', labels).group(1)), delta((n, labels)))
        for (n, labels) in after if n == name + "_bucket")
    return delta((name + "_count", "")), delta((name + "_sum", "")), buckets

def quantile_bound(buckets, count, q):
    """The upper bound of the bucket holding quantile q (Prometheus buckets are coarse)."""
    for le, cumulative in buckets:
        if cumulative >= q * count:
            return le
    return float("inf")

def run(name, rnd, report_json, before_path, after_path, sched_before, sched_after):
    r = json.loads(report_json)
    o = r["outcomes"]
    row = {"name": name, "round": int(rnd), "success_per_s": r["success_per_s"],
           "requests_per_s": r["requests_per_s"], "p50_ms": r["latency_us"]["p50"] / 1e3,
           "p99_ms": r["latency_us"]["p99"] / 1e3, "success": o["success"],
           "conflict": o["conflict"], "failure": o["failure"],
           "errors": sum(r["errors"].values()), "status": r["status"]}
    (run0, wait0, t0), (run1, wait1, t1) = (map(int, x.split()) for x in (sched_before, sched_after))
    row.update(cpu=(run1 - run0) / (t1 - t0), runq_wait=(wait1 - wait0) / (t1 - t0))
    before, after = metrics(before_path), metrics(after_path)
    if after:
        n, total, _ = histogram(before, after, "weaseldb_commit_batch_size")
        sn, stotal, sb = histogram(before, after, "weaseldb_log_sync_duration_seconds")
        if n > 0 and sn > 0:
            row.update(batches=n, batch_mean=total / n, syncs=sn, sync_mean_ms=stotal / sn * 1e3,
                       sync_p50_le_ms=quantile_bound(sb, sn, 0.5) * 1e3,
                       sync_p99_le_ms=quantile_bound(sb, sn, 0.99) * 1e3)
    print(json.dumps(row))

def line(row):
    text = ("round %d  %-13s %9.1f commits/s  p50 %6.2f ms  p99 %7.2f ms  conflicts %d (%.2f%%)"
            "  failures %d  errors %d" % (
                row["round"], row["name"], row["success_per_s"], row["p50_ms"], row["p99_ms"],
                row["conflict"], 100.0 * row["conflict"] / max(1, row["success"] + row["conflict"]),
                row["failure"], row["errors"]))
    text += "  server cpu %.0f%% runq-wait %.0f%%" % (100 * row["cpu"], 100 * row["runq_wait"])
    if "batch_mean" in row:
        text += "  [group commit %.1f txn/batch, log sync mean %.2f ms, p50 <= %g ms, p99 <= %g ms]" % (
            row["batch_mean"], row["sync_mean_ms"], row["sync_p50_le_ms"], row["sync_p99_le_ms"])
    print(text)
    if row["failure"] or row["errors"]:
        print("warning: %s round %d: failures %d, errors %d, statuses %s" % (
            row["name"], row["round"], row["failure"], row["errors"], row["status"]), file=sys.stderr)

def summary(path, hot_fraction, hot_keys):
    rows = [json.loads(l) for l in open(path)]
    by = collections.defaultdict(dict)
    for row in rows:
        by[row["name"]][row["round"]] = row
    med = lambda name, key: statistics.median(r[key] for r in by[name].values())
    print()
    for name in by:
        extra = ""
        if "batch_mean" in next(iter(by[name].values())):
            extra = "  group commit %.1f txn/batch, log sync mean %.2f ms" % (
                med(name, "batch_mean"), med(name, "sync_mean_ms"))
        print("%-13s median %9.1f commits/s  p50 %6.2f ms  p99 %7.2f ms  server cpu %.0f%%"
              " runq-wait %.0f%%%s" % (
                  name, med(name, "success_per_s"), med(name, "p50_ms"), med(name, "p99_ms"),
                  100 * med(name, "cpu"), 100 * med(name, "runq_wait"), extra))
    ratios = {}
    for peer in ("etcd", "redis"):
        if peer not in by:
            continue
        per_round = [by["weaseldb"][k]["success_per_s"] / by[peer][k]["success_per_s"]
                     for k in sorted(by[peer]) if by[peer][k]["success_per_s"] > 0]
        ratios[peer] = statistics.median(per_round)
        print("ratio weaseldb/%-5s median %.2f (rounds: %s)" % (
            peer, ratios[peer], " ".join("%.2f" % x for x in per_round)))
    w_cps, w_p50, w_p99 = med("weaseldb", "success_per_s"), med("weaseldb", "p50_ms"), med("weaseldb", "p99_ms")
    print("targets: >= 10x etcd: %s, >= 1x Redis: %s, p99 < 5 ms: %s" % (
        "met" if ratios.get("etcd", 0) >= 10 else "NOT met",
        "met" if ratios.get("redis", 0) >= 1 else "NOT met",
        "met" if w_p99 < 5 else "NOT met"))
    print("RESULT commit_vs_peers weaseldb_cps=%.1f etcd_cps=%.1f redis_cps=%.1f"
          " ratio_etcd=%.2f ratio_redis=%.2f weaseldb_p50_ms=%.2f weaseldb_p99_ms=%.2f"
          " etcd_p50_ms=%.2f etcd_p99_ms=%.2f redis_p50_ms=%.2f redis_p99_ms=%.2f" % (
              w_cps, med("etcd", "success_per_s"), med("redis", "success_per_s"),
              ratios.get("etcd", 0), ratios.get("redis", 0), w_p50, w_p99,
              med("etcd", "p50_ms"), med("etcd", "p99_ms"), med("redis", "p50_ms"), med("redis", "p99_ms")))
    if "weaseldb-hot" in by:
        hot = by["weaseldb-hot"].values()
        rate = statistics.median(r["conflict"] / max(1, r["success"] + r["conflict"]) for r in hot)
        print("RESULT commit_vs_peers_hot hot_fraction=%s hot_keys=%s weaseldb_cps=%.1f"
              " weaseldb_attempts_per_s=%.1f conflict_rate=%.4f p50_ms=%.2f p99_ms=%.2f" % (
                  hot_fraction, hot_keys, med("weaseldb-hot", "success_per_s"),
                  med("weaseldb-hot", "requests_per_s"), rate, med("weaseldb-hot", "p50_ms"),
                  med("weaseldb-hot", "p99_ms")))

mode = sys.argv[1]
if mode == "run":
    run(*sys.argv[2:9])
elif mode == "line":
    line(json.loads(sys.argv[2]))
else:
    summary(*sys.argv[2:5])
EOF
}

# Runs load_tester once, appends its JSON line to $results and prints the human line.
run_one() {  # NAME ROUND PORT PID WORKLOAD [EXTRA_ARGS...]
  local name=$1 round=$2 port=$3 pid=$4 workload=$5
  shift 5
  local before="$bench_tmp/metrics.before" after="$bench_tmp/metrics.after" json
  local sched_before sched_after
  : >"$before"
  : >"$after"
  if [[ $name == weaseldb* ]]; then scrape "$before"; fi
  sched_before=$(schedstat "$pid")
  json=$($CLIENT_PIN "$LOAD_TESTER" --target "127.0.0.1:$port" --workload "$workload" \
    --keys "$keys" --connections "$connections" --threads "$threads" --warmup "$warmup" \
    --duration "$duration" --json "$@") || die "load_tester against $name failed: $json"
  sched_after=$(schedstat "$pid")
  if [[ $name == weaseldb* ]]; then scrape "$after"; fi
  report run "$name" "$round" "$json" "$before" "$after" "$sched_before" "$sched_after" \
    >>"$results"
  report line "$(tail -n 1 "$results")"
}

for ((round = 1; round <= rounds; round++)); do
  run_one weaseldb "$round" "$weasel_port" "$weaseldb_pid" weasel-commit
  run_one etcd "$round" "$etcd_port" "$etcd_pid" etcd-txn
  run_one redis "$round" "$redis_port" "$redis_pid" redis-cas
  if ((hot)); then
    run_one weaseldb-hot "$round" "$weasel_port" "$weaseldb_pid" weasel-commit \
      --hot-fraction "$hot_fraction" --hot-keys "$hot_keys"
  fi
done

report summary "$results" "$hot_fraction" "$hot_keys"

if ((use_strace)); then
  # Attached to every thread of the running server (-f with -p) for one more run.
  strace -c -f -p "$weaseldb_pid" -o "$bench_tmp/strace.txt" 2>"$bench_tmp/strace.log" &
  strace_pid=$!
  sleep 1  # let strace attach to every thread before the load starts
  run_one weaseldb-strace 0 "$weasel_port" "$weaseldb_pid" weasel-commit
  kill -INT "$strace_pid"
  wait "$strace_pid" || true
  echo "strace -c -f of weaseldb during that run (all threads):"
  head -n 25 "$bench_tmp/strace.txt"
fi
