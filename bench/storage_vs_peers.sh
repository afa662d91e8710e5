#!/usr/bin/env bash
# The storage engine vs RocksDB 7.8 and LevelDB 1.23: build/release/db_bench with the issue's
# settings (1,000,000 keys of 16 bytes, 100-byte values, WAL without sync, 16 KiB blocks,
# bloom 10 bits per key, the same block cache and write buffer, lz4; LevelDB has only
# snappy), for N rounds.
#
# Within a round db_bench runs each workload on every engine in turn, each engine in a child
# process of its own (stopped while another is measured), so machine noise hits all alike.
# Rounds rotate the engine order. The figures are the median over rounds of each engine's
# ops/sec, the median and range of the per-round ratios weaseldb/peer, and each engine's peak
# RSS (VmHWM of its process). --nice N (default -10; negative needs root) runs db_bench in a
# session of its own whose autogroup gets nice N too: with sched_autogroup_enabled=1 a plain
# nice does nothing against other sessions' builds.
#
# Usage: bench/storage_vs_peers.sh [--rounds N] [--num N] [--nice N|--no-nice]
#            [--benchmarks LIST] [-- extra db_bench flags]
# Build first: ./scripts/build.sh release db_bench
set -euo pipefail
BENCH_NAME=storage_vs_peers
source "$(dirname "$0")/common.sh"

rounds=3
num=1000000
niceness=-10
benchmarks=fillseq,fillrandom,overwrite,readrandom,seekrandom,readseq,fillsync1000
extra=()
while (($#)); do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --num) num=$2; shift 2 ;;
    --nice) niceness=$2; shift 2 ;;
    --no-nice) niceness=""; shift ;;
    --benchmarks) benchmarks=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$num" =~ ^[1-9][0-9]*$ ]] ||
  die "--rounds and --num take positive integers"
[[ -z "$niceness" || "$niceness" =~ ^-?[0-9]+$ ]] || die "--nice takes an integer"

DB_BENCH=${DB_BENCH:-$BENCH_ROOT/build/release/db_bench}
require_file "$DB_BENCH" "build it: ./scripts/build.sh release db_bench"

# Not pinned (db_bench's engines run background threads of their own); nice as the others.
set_pin_and_priority 0 "$niceness"
read -r -a prefix <<<"$CLIENT_PIN"

orders=(weaseldb,rocksdb,leveldb rocksdb,leveldb,weaseldb leveldb,weaseldb,rocksdb)
results="$bench_tmp/results.txt"
: >"$results"
echo "db_bench --num=$num --benchmarks=$benchmarks ${extra[*]:-}  rounds $rounds  nice '${niceness}'"
for ((round = 1; round <= rounds; round++)); do
  order=${orders[$(((round - 1) % 3))]}
  echo "== round $round (engines $order)"
  out="$bench_tmp/round$round.txt"
  "${prefix[@]}" "$DB_BENCH" --engine="$order" --num="$num" --benchmarks="$benchmarks" \
    --db="$bench_tmp/db" "${extra[@]}" >"$out" 2>&1 || { cat "$out" >&2; die "db_bench failed"; }
  grep -E '^engine=.* : ' "$out"
  grep '^RESULT db_bench' "$out" | sed "s/^/round=$round /" >>"$results"
done

"$PYTHON" - "$results" <<'EOF'
import collections, re, statistics, sys

rows = collections.defaultdict(list)  # workload -> [{key: value}] per round
for line in open(sys.argv[1]):
    fields = dict(re.findall(r'(\w+)=(\S+)', line))
    rows[fields["workload"]].append(fields)

def spread(values, fmt):
    values = sorted(values)
    return (fmt % statistics.median(values)) + " (" + fmt % values[0] + " to " + fmt % values[-1] + ")"

targets = {"rocksdb": 1.0, "leveldb": 1.5}
print("\nmedian over %d rounds (ops/sec); ratio weaseldb/peer: median (range of rounds)" %
      len(next(iter(rows.values()))))
missed = []
for workload, runs in rows.items():
    if workload == "peak_rss_mb":
        continue
    engines = [e for e in ("weaseldb", "rocksdb", "leveldb") if e in runs[0]]
    text = "%-13s" % workload + "".join(
        " %s=%.0f" % (e, statistics.median(float(r[e]) for r in runs)) for e in engines)
    result = "RESULT storage_vs_peers workload=%s" % workload + "".join(
        " %s_ops=%.0f" % (e, statistics.median(float(r[e]) for r in runs)) for e in engines)
    for peer, target in targets.items():
        key = "ratio_" + peer
        if key not in runs[0]:
            continue
        ratios = [float(r[key]) for r in runs]
        median = statistics.median(ratios)
        text += "  vs %s %s" % (peer, spread(ratios, "%.2fx"))
        result += " %s=%.3f %s_min=%.3f %s_max=%.3f" % (key, median, key, min(ratios), key, max(ratios))
        if median < target:
            missed.append("%s vs %s %.2fx < %.1fx" % (workload, peer, median, target))
    print(text)
    print(result)
if "peak_rss_mb" in rows:
    runs = rows["peak_rss_mb"]
    engines = [e for e in ("weaseldb", "rocksdb", "leveldb") if e in runs[0]]
    text = "peak_rss_mb  " + "".join(" %s=%s" % (e, spread([float(r[e]) for r in runs], "%.1f"))
                                     for e in engines)
    print(text)
    print("RESULT storage_vs_peers workload=peak_rss_mb" + "".join(
        " %s=%.1f" % (e, statistics.median(float(r[e]) for r in runs)) for e in engines))
    if "weaseldb" in runs[0] and "rocksdb" in runs[0]:
        w = statistics.median(float(r["weaseldb"]) for r in runs)
        k = statistics.median(float(r["rocksdb"]) for r in runs)
        if w > k:
            missed.append("peak RSS %.1f MB > RocksDB's %.1f MB" % (w, k))
print("targets (>= 1.0x RocksDB, >= 1.5x LevelDB, peak RSS <= RocksDB's): " +
      ("all met" if not missed else "NOT met: " + "; ".join(missed)))
EOF
