#!/usr/bin/env bash
# Change streams: the server's memory with many idle subscribers and with stalled ones.
#
# 1. Idle: opens N (--idle 1000) live subscribers (GET /v1/subscribe, each read until its first
#    checkpoint) with `stream_lag --mode hold`, no commits, and reports weaseldb's VmRSS before
#    and with them open (and the growth per subscriber), after checking the
#    weaseldb_subscribers gauge says N.
# 2. Stalled: opens K (--stalled 10) subscribers that send their request and never read
#    again, with SO_RCVBUF --rcvbuf (4096) bytes, then runs a closed-loop commit load
#    (stream_lag --subscribers 0: 64 connections, one point read + one 100-byte write per
#    commit) for --duration S seconds, sampling VmRSS, weaseldb_subscribers and
#    weaseldb_subscriber_disconnects_total{reason="slow_consumer"} every second. The hub must
#    cut each stalled subscriber off once subscription.max_buffer_size_bytes (default 10 MiB;
#    --max-buffer sets it) is queued for it, so RSS must level off; the script fails if fewer
#    than K cut-offs happened. --waves W repeats the stalled phase W times in the same server
#    (fresh stalled subscribers each wave), to show RSS does not keep growing. Wave 0 runs
#    the same load with no subscriber first (--no-control skips it): the commit path's own
#    growth (request-id index, conflict window, memtable, recent-batch tail), to subtract.
#
# Usage: bench/stream_memory.sh [--idle N] [--stalled K] [--rcvbuf BYTES] [--duration S]
#            [--waves W] [--max-buffer BYTES] [--no-control]
# Build first: ./scripts/build.sh release weaseldb stream_lag
set -euo pipefail
BENCH_NAME=stream_memory
source "$(dirname "$0")/common.sh"

idle=1000
stalled=10
rcvbuf=4096
duration=10
waves=1
max_buffer=""
first_wave=0
while (($#)); do
  case "$1" in
    --idle) idle=$2; shift 2 ;;
    --stalled) stalled=$2; shift 2 ;;
    --rcvbuf) rcvbuf=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --waves) waves=$2; shift 2 ;;
    --max-buffer) max_buffer=$2; shift 2 ;;
    --no-control) first_wave=1; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
for value in "$idle" "$stalled" "$duration" "$waves"; do
  [[ "$value" =~ ^[1-9][0-9]*$ ]] || die "--idle, --stalled, --duration and --waves take positive integers"
done
[[ "$rcvbuf" =~ ^[0-9]+$ ]] || die "--rcvbuf takes a non-negative integer"
[[ -z "$max_buffer" || "$max_buffer" =~ ^[1-9][0-9]*$ ]] || die "--max-buffer takes a positive integer"

WEASELDB=${WEASELDB:-$BENCH_ROOT/build/release/weaseldb}
STREAM_LAG=${STREAM_LAG:-$BENCH_ROOT/build/release/stream_lag}
require_file "$WEASELDB" "build it: ./scripts/build.sh release weaseldb"
require_file "$STREAM_LAG" "build it: ./scripts/build.sh release stream_lag"
ulimit -n "$(ulimit -Hn)"

port=$(free_port)
if [[ -n "$max_buffer" ]]; then
  # start_weaseldb writes [server] lines only; the [subscription] table goes after them.
  start_weaseldb "$port" "max_connections = $((idle + stalled + 1000))" "[subscription]" \
    "max_buffer_size_bytes = $max_buffer"
else
  start_weaseldb "$port" "max_connections = $((idle + stalled + 1000))"
fi
pid=$weaseldb_pid
url="http://127.0.0.1:$port"

metric() {  # NAME [LABELS]: the value in /metrics, 0 when absent
  curl -sf "$url/metrics" | awk -v name="$1${2:-}" '$1 == name { print $2; found = 1 } END { if (!found) print 0 }'
}

# Starts `stream_lag --mode hold ARGS...` with stdin on a FIFO this script holds open, and waits
# for its `ready` line. Sets hold_pid and hold_out.
start_hold() {  # TAG ARGS...
  local tag=$1 attempt
  shift
  hold_out="$bench_tmp/hold-$tag.out"
  mkfifo "$bench_tmp/hold-$tag.in"
  "$STREAM_LAG" --mode hold --target "127.0.0.1:$port" "$@" <"$bench_tmp/hold-$tag.in" >"$hold_out" 2>&1 &
  hold_pid=$!
  bench_pids+=("$hold_pid")
  exec 3>"$bench_tmp/hold-$tag.in"
  for ((attempt = 0; attempt < 600; attempt++)); do  # bounded-poll: 60 s
    grep -qs "^ready" "$hold_out" && break
    kill -0 "$hold_pid" 2>/dev/null || die "stream_lag ($tag) exited: $(cat "$hold_out")"
    sleep 0.1
  done
  grep -q '^ready' "$hold_out" || die "stream_lag ($tag) not ready after 60 s"
  grep '^ready' "$hold_out"
}

stop_hold() {  # closes the FIFO: stream_lag prints `done` and exits
  exec 3>&-
  wait "$hold_pid" || true
  grep '^done' "$hold_out" || true
}

wait_subscribers() {  # N: polls the gauge until it reads N (the hub registers asynchronously)
  local attempt
  for ((attempt = 0; attempt < 100; attempt++)); do  # bounded-poll: 10 s
    [[ "$(metric weaseldb_subscribers)" == "$1" ]] && return 0
    sleep 0.1
  done
  die "weaseldb_subscribers is $(metric weaseldb_subscribers), expected $1"
}

echo "weaseldb $("$WEASELDB" --version 2>&1 | head -n 1) (1 I/O thread)" \
  "subscription.max_buffer_size_bytes = ${max_buffer:-default (10 MiB)}"

# ---- 1. idle subscribers ----
rss_before=$(proc_status_kb "$pid" VmRSS)
start_hold idle --subscribers "$idle" --concurrency 256
grep -q "ready subscribers=$idle ready=$idle failed=0" "$hold_out" || die "not all idle subscribers opened"
wait_subscribers "$idle"
rss_idle=$(proc_status_kb "$pid" VmRSS)
hwm_idle=$(proc_status_kb "$pid" VmHWM)
stop_hold
wait_subscribers 0
rss_after_idle=$(proc_status_kb "$pid" VmRSS)
per_sub=$(((rss_idle - rss_before) * 1024 / idle))
echo "idle: RSS ${rss_before} kB before, ${rss_idle} kB with $idle subscribers (HWM ${hwm_idle} kB)," \
  "${rss_after_idle} kB after they left; ${per_sub} bytes per subscriber"
echo "RESULT stream_memory_idle subscribers=$idle rss_before_kb=$rss_before rss_kb=$rss_idle" \
  "rss_after_kb=$rss_after_idle bytes_per_subscriber=$per_sub"

# ---- 2. stalled subscribers under commit load ----
total_cutoffs=0
for ((wave = first_wave; wave <= waves; wave++)); do
  cut0=$(metric weaseldb_subscriber_disconnects_total '{reason="slow_consumer"}')
  cut0=${cut0%.*}
  subs=0
  if ((wave > 0)); then
    subs=$stalled
    start_hold "stalled$wave" --subscribers "$stalled" --no-read --rcvbuf "$rcvbuf"
    wait_subscribers "$stalled"
  fi
  rss0=$(proc_status_kb "$pid" VmRSS)
  "$STREAM_LAG" --target "127.0.0.1:$port" --subscribers 0 --warmup 0 --duration "$duration" \
    --json >"$bench_tmp/load$wave.json" 2>&1 &
  load_pid=$!
  bench_pids+=("$load_pid")
  echo "wave $wave: t=0s RSS ${rss0} kB, subscribers $subs"
  peak=$rss0
  for ((t = 1; t <= duration + 1; t++)); do
    sleep 1
    rss=$(proc_status_kb "$pid" VmRSS)
    ((rss > peak)) && peak=$rss
    cut=$(metric weaseldb_subscriber_disconnects_total '{reason="slow_consumer"}')
    echo "wave $wave: t=${t}s RSS ${rss} kB, subscribers $(metric weaseldb_subscribers)," \
      "slow_consumer cut-offs $((${cut%.*} - cut0))"
  done
  wait "$load_pid" || true
  cps=$("$PYTHON" -c 'import json,sys; print("%.0f" % json.load(open(sys.argv[1]))["commits_per_s"])' \
    "$bench_tmp/load$wave.json" 2>/dev/null || echo "?")
  cut=$(metric weaseldb_subscriber_disconnects_total '{reason="slow_consumer"}')
  cutoffs=$((${cut%.*} - cut0))
  total_cutoffs=$((total_cutoffs + cutoffs))
  if ((wave > 0)); then stop_hold; fi
  rss_end=$(proc_status_kb "$pid" VmRSS)
  echo "RESULT stream_memory_stalled wave=$wave subscribers=$subs rcvbuf=$rcvbuf" \
    "duration_s=$duration commits_per_s=$cps rss_start_kb=$rss0 rss_peak_kb=$peak" \
    "rss_end_kb=$rss_end slow_consumer_cutoffs=$cutoffs"
  ((wave == 0 || cutoffs >= stalled)) || echo "warning: wave $wave: only $cutoffs of $stalled stalled subscribers were cut off" >&2
done
((total_cutoffs >= stalled * waves)) || die "expected at least $((stalled * waves)) slow_consumer cut-offs, saw $total_cutoffs"
