#!/usr/bin/env bash
# HTTP keep-alive throughput of weaseldb vs nginx, side by side in one run.
#
# Both serve `GET /v1/version` on loopback: weaseldb with 1 I/O thread, nginx with 1 worker
# returning a JSON body of the same length. wrk drives both with the same threads,
# connections and duration; runs alternate (weaseldb, nginx, weaseldb, nginx, ...) so that
# machine noise hits both alike, and the figure is the median over rounds of the per-round
# ratio weaseldb/nginx. load_tester (tools/load_tester) gives a second opinion when built.
# With 2+ CPUs the servers are pinned to CPU 0 and the load generators to the others.
# Each run also reports the server's CPU time per request (user+system, from /proc), which
# says what the server costs even when neighbours steal the CPU: the CPU ratio is nginx's
# CPU per request over the target's (above 1: the target is cheaper than nginx). The load
# generator's CPU per request is reported too: once it exceeds the servers', requests/s
# measure the client, not the server.
# --ceiling adds bench/http_ceiling/min_responder (built here with g++), a fixed-answer
# responder with edge-triggered epoll and one with io_uring, to the same alternation.
# --baseline BIN adds another weaseldb binary (an older build, say) as target "baseline".
#
# Usage: bench/http_vs_nginx.sh [--rounds N] [--threads T] [--connections C]
#                               [--duration S] [--no-load-tester] [--no-pin] [--ceiling]
#                               [--baseline BIN]
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
ceiling=0
baseline=""
while (($#)); do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --no-load-tester) use_load_tester=0; shift ;;
    --no-pin) pin=0; shift ;;
    --ceiling) ceiling=1; shift ;;
    --baseline) baseline=$2; shift 2 ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
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

nginx_worker=$(pgrep -P "$nginx_pid" | head -n1 || true)
[[ -n "$nginx_worker" ]] || die "no nginx worker process under $nginx_pid"

# Targets in the order they run each round: NAME PORT PID (the process whose CPU is counted).
targets=("weaseldb $weasel_port $weaseldb_pid" "nginx $nginx_port $nginx_worker")
if [[ -n "$baseline" ]]; then
  require_file "$baseline" "--baseline takes a weaseldb binary"
  port=$(free_port)
  WEASELDB=$baseline start_weaseldb "$port"
  targets+=("baseline $port $weaseldb_pid")
fi
if ((ceiling)); then
  responder="$bench_tmp/min_responder"
  src="$BENCH_ROOT/bench/http_ceiling/min_responder.cpp"
  modes=(epoll)
  if [[ -f /usr/include/liburing.h ]]; then
    g++ -O2 -std=c++20 "$src" -o "$responder" -luring || die "cannot build $src"
    modes+=(uring)
  else
    echo "note: liburing-dev not installed (apt-get install liburing-dev): epoll ceiling only" >&2
    g++ -O2 -std=c++20 -DMIN_RESPONDER_NO_URING "$src" -o "$responder" || die "cannot build $src"
  fi
  for mode in "${modes[@]}"; do
    port=$(free_port)
    ${SERVER_PIN:-} "$responder" "$mode" "$port" "$body_bytes" >"$bench_tmp/min_$mode.log" 2>&1 &
    pid=$!
    bench_pids+=("$pid")
    wait_http_ready "min_$mode" "http://127.0.0.1:$port/v1/version" "$pid" "$bench_tmp/min_$mode.log"
    targets+=("min_$mode $port $pid")
  done
fi

# User+system CPU of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
clock_hz=$(getconf CLK_TCK)
# CPU microseconds per request: TICKS_BEFORE TICKS_AFTER REQUESTS_PER_S
cpu_us_per_request() {
  awk -v a="$1" -v b="$2" -v rps="$3" -v d="$duration" -v hz="$clock_hz" \
    'BEGIN { printf "%.3f", (b - a) / hz * 1e6 / (rps * d) }'
}

response_bytes() { curl -s -D - -o /dev/null "$1" | wc -c; }
echo "GET /v1/version  body $body_bytes bytes  headers: weaseldb $(response_bytes "$weasel_url") B," \
  "nginx $(response_bytes "$nginx_url") B"
echo "wrk -t$threads -c$connections -d${duration}s  rounds $rounds  pin ${SERVER_PIN:-off}"

results="$bench_tmp/results"
: >"$results"

client_time="$bench_tmp/client_time"
# The load generator's CPU per request, from GNU time's output file: REQUESTS_PER_S
client_us_per_request() {
  awk -v rps="$1" -v d="$duration" '{ printf "%.3f", ($1 + $2) * 1e6 / (rps * d) }' "$client_time"
}

record() {  # TOOL TARGET ROUND RPS TICKS_BEFORE TICKS_AFTER
  local us client_us
  us=$(cpu_us_per_request "$5" "$6" "$4")
  client_us=$(client_us_per_request "$4")
  echo "$1 $2 $3 $4 $us $client_us" >>"$results"
  printf 'round %d  %-11s  %-12s %12.1f req/s  %7.2f us CPU/request (client %.2f)\n' \
    "$3" "$1" "$2" "$4" "$us" "$client_us"
}

run_wrk() {  # TARGET PORT PID ROUND
  local out rps before
  before=$(cpu_ticks "$3")
  out=$(/usr/bin/time -f '%U %S' -o "$client_time" $CLIENT_PIN wrk -t"$threads" -c"$connections" -d"${duration}s" \
    "http://127.0.0.1:$2/v1/version")
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  [[ -n "$rps" ]] || die "wrk against $1 printed no Requests/sec: $out"
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "warning: wrk against $1: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ')" >&2
  fi
  record wrk "$1" "$4" "$rps" "$before" "$(cpu_ticks "$3")"
}

run_load_tester() {  # TARGET PORT PID ROUND
  local json rps before
  before=$(cpu_ticks "$3")
  json=$(/usr/bin/time -f '%U %S' -o "$client_time" $CLIENT_PIN "$LOAD_TESTER" --target "127.0.0.1:$2" --path /v1/version \
    --connections "$connections" --threads "$threads" --duration "$duration" --json) ||
    die "load_tester against $1 failed: $json"
  rps=$("$PYTHON" -c 'import json, sys
r = json.loads(sys.argv[1])
bad = r["requests"] - r["ok"] + sum(r["errors"].values())
if bad: print("warning: load_tester: %d non-2xx or errors: %s" % (bad, sys.argv[1]), file=sys.stderr)
print(r["requests_per_s"])' "$json")
  record load_tester "$1" "$4" "$rps" "$before" "$(cpu_ticks "$3")"
}

for ((round = 1; round <= rounds; round++)); do
  for target in "${targets[@]}"; do
    read -r name port pid <<<"$target"
    run_wrk "$name" "$port" "$pid" "$round"
  done
  if ((use_load_tester)); then
    for target in "${targets[@]}"; do
      read -r name port pid <<<"$target"
      run_load_tester "$name" "$port" "$pid" "$round"
    done
  fi
done

# Medians of each target and of the per-round ratios to nginx (requests/s: target/nginx; CPU:
# nginx's CPU per request / the target's), with their range over the rounds; one RESULT line
# per tool and target for scripts.
"$PYTHON" - "$results" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(lambda: collections.defaultdict(dict))
for line in open(sys.argv[1]):
    tool, target, rnd, rps, us, client_us = line.split()
    runs[tool][int(rnd)][target] = (float(rps), float(us), float(client_us))
for tool, by_round in runs.items():
    rounds = list(by_round.values())
    n_rps = statistics.median(r["nginx"][0] for r in rounds)
    n_us = statistics.median(r["nginx"][1] for r in rounds)
    print("%-11s nginx: median %.1f req/s, %.2f us CPU/request" % (tool, n_rps, n_us))
    client = [r[t][2] for r in rounds for t in r]
    print("%-11s client CPU per request over all runs: median %.2f us (%.2f-%.2f)"
          % (tool, statistics.median(client), min(client), max(client)))
    for name in [t for t in rounds[0] if t != "nginx"]:
        rr = [r[name][0] / r["nginx"][0] for r in rounds]
        cr = [r["nginx"][1] / r[name][1] for r in rounds if r[name][1] > 0] or [0.0]
        rps = statistics.median(r[name][0] for r in rounds)
        us = statistics.median(r[name][1] for r in rounds)
        print("%-11s %s: median %.1f req/s, %.2f us CPU/request; vs nginx: req/s ratio median"
              " %.3f (rounds %.3f-%.3f), CPU ratio median %.3f (rounds %.3f-%.3f)"
              % (tool, name, rps, us, statistics.median(rr), min(rr), max(rr),
                 statistics.median(cr), min(cr), max(cr)))
        print("RESULT http_vs_nginx tool=%s target=%s target_rps=%.1f nginx_rps=%.1f ratio=%.3f"
              " target_cpu_us=%.2f nginx_cpu_us=%.2f cpu_ratio=%.3f"
              % (tool, name, rps, n_rps, statistics.median(rr), us, n_us,
                 statistics.median(cr)))
    if "baseline" in rounds[0]:
        br = [r["weaseldb"][0] / r["baseline"][0] for r in rounds]
        bc = [r["baseline"][1] / r["weaseldb"][1] for r in rounds]
        print("%-11s weaseldb vs baseline: req/s ratio median %.3f (rounds %.3f-%.3f), CPU ratio"
              " median %.3f (rounds %.3f-%.3f)" % (tool, statistics.median(br), min(br), max(br),
                                                   statistics.median(bc), min(bc), max(bc)))
EOF
