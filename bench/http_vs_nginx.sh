#!/usr/bin/env bash
# HTTP keep-alive throughput of weaseldb vs nginx, side by side in one run.
#
# Both serve `GET /v1/version` on loopback: weaseldb with 1 I/O thread, nginx with 1 worker
# returning a JSON body of the same length. wrk drives both with the same threads,
# connections and duration; runs alternate (weaseldb, nginx, weaseldb, nginx, ...) so that
# machine noise hits both alike, and the figure is the median over rounds of the per-round
# ratio weaseldb/nginx. load_tester (tools/load_tester) gives a second opinion when built.
# With 2+ CPUs the servers are pinned to CPU 0 and the load generators to the others.
#
# Usage: bench/http_vs_nginx.sh [--rounds N] [--threads T] [--connections C]
#                               [--duration S] [--no-load-tester] [--no-pin]
# Build first: ./scripts/build.sh release weaseldb load_tester
set -euo pipefail
BENCH_NAME=http_vs_nginx
source "$(dirname "$0")/common.sh"

rounds=3
threads=1
connections=64
duration=10
use_load_tester=1
pin=1
while (($#)); do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --no-load-tester) use_load_tester=0; shift ;;
    --no-pin) pin=0; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$duration" =~ ^[1-9][0-9]*$ ]] ||
  die "--rounds and --duration take positive integers"

WEASELDB=${WEASELDB:-$BENCH_ROOT/build/release/weaseldb}
LOAD_TESTER=${LOAD_TESTER:-$BENCH_ROOT/build/release/load_tester}
require_file "$WEASELDB" "build it: ./scripts/build.sh release weaseldb"
command -v nginx >/dev/null || die "nginx not installed (scripts/install-deps.sh bench)"
command -v wrk >/dev/null || die "wrk not installed (scripts/install-deps.sh bench)"
if ((use_load_tester)) && [[ ! -x "$LOAD_TESTER" ]]; then
  echo "note: $LOAD_TESTER not built; skipping the load_tester runs" >&2
  use_load_tester=0
fi

CLIENT_PIN=""
if ((pin)) && (($(nproc) >= 2)); then
  SERVER_PIN="taskset -c 0"
  CLIENT_PIN="taskset -c 1-$(($(nproc) - 1))"
fi

# A JSON body of exactly N bytes, shaped like weaseldb's /v1/version answer.
json_body_of_size() {
  "$PYTHON" - "$1" <<'EOF'
import sys
n = int(sys.argv[1])
head, tail = '{"version":0,"leader_id":"', '"}'
pad = n - len(head) - len(tail)
sys.stdout.write(head + "x" * pad + tail if pad >= 0 else '"' + "x" * (n - 2) + '"')
EOF
}

weasel_port=$(free_port)
start_weaseldb "$weasel_port"
weasel_url="http://127.0.0.1:$weasel_port/v1/version"
curl -sf -o "$bench_tmp/weasel_body" "$weasel_url" || die "GET $weasel_url failed"
body_bytes=$(stat -c %s "$bench_tmp/weasel_body")
((body_bytes >= 2)) || die "weaseldb's /v1/version body is $body_bytes bytes"

nginx_port=$(free_port)
start_nginx "$nginx_port" "$(json_body_of_size "$body_bytes")"
nginx_url="http://127.0.0.1:$nginx_port/v1/version"
nginx_body_bytes=$(curl -sf "$nginx_url" | wc -c)
((nginx_body_bytes == body_bytes)) ||
  die "nginx body is $nginx_body_bytes bytes, weaseldb's is $body_bytes"

response_bytes() { curl -s -D - -o /dev/null "$1" | wc -c; }
echo "GET /v1/version  body $body_bytes bytes  headers: weaseldb $(response_bytes "$weasel_url") B," \
  "nginx $(response_bytes "$nginx_url") B"
echo "wrk -t$threads -c$connections -d${duration}s  rounds $rounds  pin ${SERVER_PIN:-off}"

results="$bench_tmp/results"
: >"$results"

run_wrk() {  # TARGET URL ROUND
  local out
  out=$($CLIENT_PIN wrk -t"$threads" -c"$connections" -d"${duration}s" "$2")
  local rps
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  [[ -n "$rps" ]] || die "wrk against $1 printed no Requests/sec: $out"
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "warning: wrk against $1: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ')" >&2
  fi
  echo "wrk $1 $3 $rps" >>"$results"
  printf 'round %d  wrk          %-8s %12.1f req/s\n' "$3" "$1" "$rps"
}

run_load_tester() {  # TARGET PORT ROUND
  local json rps
  json=$($CLIENT_PIN "$LOAD_TESTER" --target "127.0.0.1:$2" --path /v1/version \
    --connections "$connections" --threads "$threads" --duration "$duration" --json) ||
    die "load_tester against $1 failed: $json"
  rps=$("$PYTHON" -c 'import json, sys
r = json.loads(sys.argv[1])
bad = r["requests"] - r["ok"] + sum(r["errors"].values())
if bad: print("warning: load_tester: %d non-2xx or errors: %s" % (bad, sys.argv[1]), file=sys.stderr)
print(r["requests_per_s"])' "$json")
  echo "load_tester $1 $3 $rps" >>"$results"
  printf 'round %d  load_tester  %-8s %12.1f req/s\n' "$3" "$1" "$rps"
}

for ((round = 1; round <= rounds; round++)); do
  run_wrk weaseldb "$weasel_url" "$round"
  run_wrk nginx "$nginx_url" "$round"
  if ((use_load_tester)); then
    run_load_tester weaseldb "$weasel_port" "$round"
    run_load_tester nginx "$nginx_port" "$round"
  fi
done

# Medians of each side and of the per-round ratio; one RESULT line per tool for scripts.
"$PYTHON" - "$results" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    tool, target, rnd, rps = line.split()
    runs[tool].setdefault(int(rnd), {})[target] = float(rps)
for tool, by_round in runs.items():
    ratios = [r["weaseldb"] / r["nginx"] for r in by_round.values()]
    w = statistics.median(r["weaseldb"] for r in by_round.values())
    n = statistics.median(r["nginx"] for r in by_round.values())
    print("%-11s median weaseldb %.1f req/s, nginx %.1f req/s; ratio weaseldb/nginx median %.3f"
          " (rounds: %s)" % (tool, w, n, statistics.median(ratios),
                              " ".join("%.3f" % x for x in ratios)))
    print("RESULT http_vs_nginx tool=%s weaseldb_rps=%.1f nginx_rps=%.1f ratio=%.3f"
          % (tool, w, n, statistics.median(ratios)))
EOF
