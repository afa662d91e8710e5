#!/usr/bin/env bash
# Memory of idle keep-alive connections in weaseldb.
#
# Starts weaseldb (1 I/O thread, server.max_connections above the count) on a loopback port,
# opens N connections with bench idle_conns (each sends one GET /health and must get a 2xx,
# then stays open and silent), checks that the server holds N established sockets, and
# reports the server's VmRSS and VmHWM (/proc/<pid>/status) before and with the connections
# open, and the RSS per connection (the growth divided by N). --with-nginx then does the
# same to nginx (1 worker, its worker process measured) as a reference in the same run;
# nginx allocates its connection array for worker_connections up front, so its growth
# counts only what each connection adds beyond that.
#
# Usage: bench/idle_connections.sh [--connections N] [--with-nginx]     (default N: 10000)
# Build first: ./scripts/build.sh release weaseldb idle_conns
set -euo pipefail
BENCH_NAME=idle_connections
source "$(dirname "$0")/common.sh"

connections=10000
with_nginx=0
while (($#)); do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --with-nginx) with_nginx=1; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ "$connections" =~ ^[1-9][0-9]*$ ]] || die "--connections takes a positive integer"

WEASELDB=${WEASELDB:-$BENCH_ROOT/build/release/weaseldb}
IDLE_CONNS=${IDLE_CONNS:-$BENCH_ROOT/build/release/idle_conns}
require_file "$WEASELDB" "build it: ./scripts/build.sh release weaseldb"
require_file "$IDLE_CONNS" "build it: ./scripts/build.sh release idle_conns"

# Both the server and the helper inherit this limit: N sockets each, plus slack.
fd_limit=$((connections + 1024))
if (($(ulimit -Hn) < fd_limit)); then
  ulimit -Hn "$fd_limit" 2>/dev/null || die "ulimit -Hn is $(ulimit -Hn), below $fd_limit (needs root)"
fi
ulimit -n "$fd_limit"

# Opens the connections to 127.0.0.1:PORT, measures PID (the process holding the server's
# sockets) and prints the figures; NAME labels them. Fails when a connection is missing.
measure_idle() {  # NAME PORT PID
  local name=$1 port=$2 pid=$3
  local out="$bench_tmp/holder-$name.out" fifo="$bench_tmp/holder-$name.in"
  local rss_before_kb ready established server_side rss_kb hwm_kb holder_pid holder_rc done_line
  rss_before_kb=$(proc_status_kb "$pid" VmRSS)
  # The helper reads its stdin from a FIFO: closing our end (fd 7) tells it to let go.
  mkfifo "$fifo"
  "$IDLE_CONNS" --target "127.0.0.1:$port" --connections "$connections" --path /health \
    <"$fifo" >"$out" 2>&1 &
  holder_pid=$!
  bench_pids+=("$holder_pid")
  exec 7>"$fifo"

  ready=""
  for ((attempt = 0; attempt < 3000; attempt++)); do  # 300 s at most
    ready=$(grep -m1 '^ready ' "$out" || true)
    [[ -n "$ready" ]] && break
    kill -0 "$holder_pid" 2>/dev/null || { cat "$out" >&2; die "idle_conns exited early"; }
    sleep 0.1
  done
  [[ -n "$ready" ]] || die "idle_conns did not report within 300 s"
  echo "$name: idle_conns $ready"

  established=$(sed -n 's/.* established=\([0-9]*\) .*/\1/p' <<<"$ready")
  server_side=$(ss -Htn state established "( sport = :$port )" | wc -l)
  kill -0 "$pid" 2>/dev/null || die "$name died while the connections were opened"
  rss_kb=$(proc_status_kb "$pid" VmRSS)
  hwm_kb=$(proc_status_kb "$pid" VmHWM)

  exec 7>&-  # let the helper go: it reports the connections the server closed meanwhile
  holder_rc=0
  wait "$holder_pid" || holder_rc=$?
  done_line=$(grep -m1 '^done ' "$out" || true)

  "$PYTHON" - "$name" "$connections" "$established" "$server_side" "$rss_before_kb" "$rss_kb" \
    "$hwm_kb" "$done_line" <<'EOF'
import sys
name = sys.argv[1]
n, established, server_side, before, rss, hwm = map(int, sys.argv[2:8])
print("%s: connections  %d requested, %d established, %d seen by the server (ss)"
      % (name, n, established, server_side))
print("%s: VmRSS        %d kB before, %d kB with the connections open (VmHWM %d kB)"
      % (name, before, rss, hwm))
print("%s: per conn     %.0f bytes of RSS growth (%.0f bytes of total RSS)"
      % (name, (rss - before) * 1024 / n, rss * 1024 / n))
print("%s: helper       %s" % (name, sys.argv[8] or "no final line"))
print("RESULT idle_connections server=%s connections=%d rss_kb=%d hwm_kb=%d rss_before_kb=%d "
      "bytes_per_connection=%.0f" % (name, established, rss, hwm, before, (rss - before) * 1024 / n))
EOF
  ((established == connections && server_side == connections)) ||
    die "$name: $established of $connections connections established ($server_side server side)"
  ((holder_rc == 0)) || die "$name closed idle connections while they were held ($done_line)"
}

port=$(free_port)
start_weaseldb "$port" "max_connections = $((connections + 1000))"
measure_idle weaseldb "$port" "$weaseldb_pid"

if ((with_nginx)); then
  nginx_port=$(free_port)
  start_nginx "$nginx_port" '{"status":"ok"}'
  worker_pid=""
  for ((attempt = 0; attempt < 50 && ${#worker_pid} == 0; attempt++)); do
    worker_pid=$(pgrep -P "$nginx_pid" | head -n1 || true)
    [[ -n "$worker_pid" ]] || sleep 0.1
  done
  [[ -n "$worker_pid" ]] || die "nginx has no worker process"
  measure_idle nginx "$nginx_port" "$worker_pid"
fi
