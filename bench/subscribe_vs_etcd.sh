#!/usr/bin/env bash
# Change streams: weaseldb subscribers vs etcd watchers, side by side in one run.
#
# bench/stream_lag (one process, one clock) drives a commit load (closed loop, or with --rate R
# paced at R commits/s on both systems, so lag can be compared at the same rate) (load_tester's
# weasel-commit / etcd-txn workloads: one point-read precondition or mod_revision compare plus
# one write of a random 16-byte key with a 100-byte value, C connections, every answer durable)
# and, on a second thread, S subscribers that all follow the whole key space:
#   weaseldb  GET /v1/subscribe (SSE, durable=true, live from the latest version)
#   etcd      POST /v3/watch {"create_request":{"key":"AA==","range_end":"AA=="}} (JSON gateway)
# Delivery lag = time a subscriber reads an event - time the committing client read that
# version's commit answer (weaseldb `version` / etcd header.revision, matched with the event's
# `id:` / kv.mod_revision), over every (subscriber, version) of the measured window; an event
# read before its answer counts as 0. Each round runs, per system, the same load with 0 and
# with S subscribers (order alternated between rounds), so the throughput cost is a ratio taken
# minutes apart at most. Systems alternate within a round. With 2+ CPUs the servers are pinned
# to CPU 0 and stream_lag to the others (as bench/commit_vs_peers.sh does); --nice N runs each
# server and stream_lag in a session of its own at nice N with its autogroup at N too.
# Per run: commits/s, commit p50/p99, lag p50/p99/max, deliveries missing, the client's
# subscriber-thread CPU and MB/s, the server's CPU and run-queue wait (schedstat), and for
# weaseldb the /metrics delta of weaseldb_subscription_bytes_sent_total and disconnects.
# Then medians and ranges over rounds, ratios, the targets (p99 lag < 20 ms, throughput with
# S subscribers >= 80% of without, weaseldb p99 lag >= 5x better than etcd's) and RESULT lines.
#
# Usage: bench/subscribe_vs_etcd.sh [--rounds N] [--subscribers S] [--connections C]
#            [--duration S] [--warmup S] [--keys N] [--no-etcd] [--no-pin] [--nice N]
#            [--rate R] [--weasel-toml LINE]...
# Build first: ./scripts/build.sh release weaseldb stream_lag
# Peer: ./scripts/install-deps.sh bench (etcd-server)
set -euo pipefail
BENCH_NAME=subscribe_vs_etcd
source "$(dirname "$0")/common.sh"

rounds=3
subscribers=100
connections=64
duration=10
warmup=2
keys=1000000
use_etcd=1
pin=1
niceness=""
weasel_toml=()
rate=0
while (($#)); do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --subscribers) subscribers=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --no-etcd) use_etcd=0; shift ;;
    --no-pin) pin=0; shift ;;
    --nice) niceness=$2; shift 2 ;;
    --weasel-toml) weasel_toml+=("$2"); shift 2 ;;
    -h | --help) sed -n '2,29p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$duration" =~ ^[1-9][0-9]*$ && "$warmup" =~ ^[0-9]+$ &&
   "$subscribers" =~ ^[1-9][0-9]*$ && "$connections" =~ ^[1-9][0-9]*$ ]] ||
  die "--rounds, --subscribers, --connections and --duration take positive integers, --warmup a non-negative one"
[[ "$rate" =~ ^[0-9]+$ ]] || die "--rate takes a non-negative integer (commits/s, 0: closed loop)"
[[ -z "$niceness" || "$niceness" =~ ^-?[0-9]+$ ]] || die "--nice takes an integer"

WEASELDB=${WEASELDB:-$BENCH_ROOT/build/release/weaseldb}
STREAM_LAG=${STREAM_LAG:-$BENCH_ROOT/build/release/stream_lag}
require_file "$WEASELDB" "build it: ./scripts/build.sh release weaseldb"
require_file "$STREAM_LAG" "build it: ./scripts/build.sh release stream_lag"
command -v curl >/dev/null || die "curl not installed"
if ((use_etcd)); then command -v etcd >/dev/null || die "etcd not installed (scripts/install-deps.sh bench)"; fi

set_pin_and_priority "$pin" "$niceness"

weasel_port=$(free_port)
start_weaseldb "$weasel_port" "${weasel_toml[@]}"
if ((use_etcd)); then
  etcd_port=$(free_port)
  start_etcd "$etcd_port" "$(free_port)"
fi

echo "weaseldb $("$WEASELDB" --version 2>&1 | head -n 1) (1 I/O thread, log.sync = true${weasel_toml[*]:+, ${weasel_toml[*]}})"
if ((use_etcd)); then echo "$(etcd --version | head -n 1) (one node, default durability)"; fi
rate_note=""
if ((rate)); then rate_note=" --rate $rate"; fi
echo "stream_lag -c$connections$rate_note --subscribers 0|$subscribers --warmup ${warmup}s --duration ${duration}s" \
  "--keys $keys  rounds $rounds  server prefix '${SERVER_PIN:-}' client prefix '${CLIENT_PIN:-}'"

results="$bench_tmp/results.jsonl"
: >"$results"


report() {
  "$PYTHON" - "$@" <<'EOF'
import collections, json, re, statistics, sys

def metrics(path):
    out = {}
    for line in open(path):
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$', line.strip())
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out

def run(name, rnd, line_json, before_path, after_path, sched_before, sched_after):
    r = json.loads(line_json)
    r.update(name=name, round=int(rnd))
    (run0, wait0, t0), (run1, wait1, t1) = (map(int, x.split()) for x in (sched_before, sched_after))
    r.update(server_cpu=(run1 - run0) / (t1 - t0), server_runq_wait=(wait1 - wait0) / (t1 - t0))
    before, after = metrics(before_path), metrics(after_path)
    if after:
        d = lambda key: after.get(key, 0.0) - before.get(key, 0.0)
        r["hub_mb_sent"] = d(("weaseldb_subscription_bytes_sent_total", "")) / 1e6
        r["slow_consumer_cutoffs"] = d(("weaseldb_subscriber_disconnects_total", '{reason="slow_consumer"}'))
    print(json.dumps(r))

def line(r):
    text = "round %d  %-8s subs %3d  %8.1f commits/s  commit p50 %6.2f p99 %7.2f ms" % (
        r["round"], r["system"], r["subscribers"], r["commits_per_s"], r["commit_p50_ms"],
        r["commit_p99_ms"])
    if r["subscribers"]:
        l = r["lag_ms"]
        text += "  lag p50 %6.2f p99 %7.2f max %7.2f ms  missing %d  before-ack %.0f%%  client %.0f%% cpu %.0f MB/s" % (
            l["p50"], l["p99"], l["max"], r["missing"],
            100.0 * r["before_ack"] / max(1, r["deliveries"]), 100 * r["subscriber_cpu"],
            r["received_mb_per_s"])
    text += "  server cpu %.0f%% runq-wait %.0f%%" % (100 * r["server_cpu"], 100 * r["server_runq_wait"])
    if "hub_mb_sent" in r and r["subscribers"]:
        text += "  hub sent %.0f MB, slow_consumer %d" % (r["hub_mb_sent"], r["slow_consumer_cutoffs"])
    print(text)
    problems = [k for k in ("failures", "errors", "missing", "error_events", "failed", "closed_by_server") if r.get(k)]
    if problems or not r["drained"]:
        print("warning: %s round %d subs %d: %s drained=%s %s" % (
            r["system"], r["round"], r["subscribers"], {k: r[k] for k in problems}, r["drained"],
            r["first_error"]), file=sys.stderr)

def span(values, fmt="%.2f"):
    return (fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(values), min(values), max(values))

def summary(path, subs):
    subs = int(subs)
    rows = [json.loads(l) for l in open(path)]
    by = collections.defaultdict(dict)  # (system, subscribers) -> round -> row
    for r in rows:
        by[(r["system"], r["subscribers"])][r["round"]] = r
    print()
    print("medians over rounds (range):")
    res = {}
    for system in ("weaseldb", "etcd"):
        if (system, subs) not in by:
            continue
        base, loaded = by[(system, 0)], by[(system, subs)]
        rounds = sorted(set(base) & set(loaded))
        cost = [loaded[k]["commits_per_s"] / base[k]["commits_per_s"] for k in rounds if base[k]["commits_per_s"] > 0]
        p50 = [loaded[k]["lag_ms"]["p50"] for k in rounds]
        p99 = [loaded[k]["lag_ms"]["p99"] for k in rounds]
        mx = [loaded[k]["lag_ms"]["max"] for k in rounds]
        res[system] = dict(rounds=rounds, cost=cost, p50=p50, p99=p99, max=mx,
                           cps0=[base[k]["commits_per_s"] for k in rounds],
                           cps=[loaded[k]["commits_per_s"] for k in rounds])
        print("%-8s commits/s with 0 subscribers %s, with %d %s; ratio %s" % (
            system, span(res[system]["cps0"], "%.0f"), subs, span(res[system]["cps"], "%.0f"), span(cost)))
        print("%-8s lag p50 %s ms  p99 %s ms  max %s ms" % (system, span(p50, "%.3f"), span(p99, "%.2f"), span(mx, "%.1f")))
    w = res.get("weaseldb")
    e = res.get("etcd")
    lag_ratio = None
    if w and e:
        both = sorted(set(w["rounds"]) & set(e["rounds"]))
        per = [by[("etcd", subs)][k]["lag_ms"]["p99"] / max(1e-3, by[("weaseldb", subs)][k]["lag_ms"]["p99"]) for k in both]
        lag_ratio = statistics.median(per)
        print("p99 lag etcd/weaseldb per round: %s (median %.2f)" % (" ".join("%.2f" % x for x in per), lag_ratio))
        cps = [by[("weaseldb", subs)][k]["commits_per_s"] / by[("etcd", subs)][k]["commits_per_s"] for k in both]
        print("commits/s weaseldb/etcd with %d subscribers per round: %s" % (subs, " ".join("%.1f" % x for x in cps)))
    if w:
        print("targets: p99 lag < 20 ms: %s, throughput with %d subscribers >= 80%% of without: %s, lag >= 5x better than etcd: %s" % (
            "met" if statistics.median(w["p99"]) < 20 else "NOT met", subs,
            "met" if statistics.median(w["cost"]) >= 0.8 else "NOT met",
            "n/a" if lag_ratio is None else ("met" if lag_ratio >= 5 else "NOT met")))
        med = lambda d, k: statistics.median(d[k])
        print("RESULT subscribe_vs_etcd subscribers=%d weaseldb_cps0=%.0f weaseldb_cps=%.0f weaseldb_ratio=%.2f"
              " weaseldb_lag_p50_ms=%.3f weaseldb_lag_p99_ms=%.2f weaseldb_lag_max_ms=%.1f%s" % (
                  subs, med(w, "cps0"), med(w, "cps"), med(w, "cost"), med(w, "p50"), med(w, "p99"), med(w, "max"),
                  "" if not e else " etcd_cps0=%.0f etcd_cps=%.0f etcd_ratio=%.2f etcd_lag_p50_ms=%.3f etcd_lag_p99_ms=%.2f etcd_lag_max_ms=%.1f lag_p99_ratio=%.2f" % (
                      med(e, "cps0"), med(e, "cps"), med(e, "cost"), med(e, "p50"), med(e, "p99"), med(e, "max"), lag_ratio)))

mode = sys.argv[1]
if mode == "run":
    run(*sys.argv[2:9])
elif mode == "line":
    line(json.loads(sys.argv[2]))
else:
    summary(*sys.argv[2:4])
EOF
}

run_one() {  # SYSTEM ROUND PORT PID SUBSCRIBERS
  local system=$1 round=$2 port=$3 pid=$4 subs=$5
  local before="$bench_tmp/metrics.before" after="$bench_tmp/metrics.after" json
  local sched_before sched_after
  : >"$before"
  : >"$after"
  if [[ $system == weaseldb ]]; then scrape "$before"; fi
  sched_before=$(schedstat "$pid")
  json=$($CLIENT_PIN "$STREAM_LAG" --target "127.0.0.1:$port" --system "$system" \
    --subscribers "$subs" --connections "$connections" --keys "$keys" --warmup "$warmup" --rate "$rate" \
    --duration "$duration" --json) || true  # incomplete delivery exits 1: still reported
  [[ $json == "{"* ]] || die "stream_lag against $system ($subs subscribers) failed: $json"
  sched_after=$(schedstat "$pid")
  if [[ $system == weaseldb ]]; then scrape "$after"; fi
  report run "$system" "$round" "$json" "$before" "$after" "$sched_before" "$sched_after" >>"$results"
  report line "$(tail -n 1 "$results")"
}

for ((round = 1; round <= rounds; round++)); do
  order=(0 "$subscribers")
  if ((round % 2 == 0)); then order=("$subscribers" 0); fi
  for subs in "${order[@]}"; do
    run_one weaseldb "$round" "$weasel_port" "$weaseldb_pid" "$subs"
    if ((use_etcd)); then run_one etcd "$round" "$etcd_port" "$etcd_pid" "$subs"; fi
  done
done

report summary "$results" "$subscribers"
