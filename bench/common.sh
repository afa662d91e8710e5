# Shared by the bench/*.sh scripts (sourced, not run): a private temp directory, cleanup of
# every process a script starts (also on failure or Ctrl-C), free loopback ports, bounded
# readiness polling, and starting weaseldb and nginx on loopback ports.
# The sourcing script sets `set -euo pipefail` and BENCH_NAME.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=/usr/bin/python3  # Debian's, whatever python3 comes first on PATH
bench_tmp=$(mktemp -d "${TMPDIR:-/tmp}/weasel-bench.XXXXXX")
bench_pids=()

die() {
  echo "${BENCH_NAME}: $*" >&2
  exit 1
}

# Stops what this script started: SIGTERM, then SIGKILL after 5 s, then removes the temp dir.
bench_cleanup() {
  local pid attempt
  for pid in "${bench_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${bench_pids[@]}"; do
    for ((attempt = 0; attempt < 50; attempt++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$bench_tmp"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

require_file() {  # FILE HINT
  [[ -x "$1" ]] || die "$1 not found or not executable ($2)"
}

# Prints a loopback TCP port that is free now.
free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Polls URL until it answers 2xx: at most 100 attempts, 0.1 s apart. Fails clearly when the
# process PID exits or never answers, showing the end of its LOG.
wait_http_ready() {  # NAME URL PID LOG
  local name=$1 url=$2 pid=$3 log=$4 attempt
  for ((attempt = 0; attempt < 100; attempt++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$log" >&2 || true
      die "$name exited before it was ready ($url)"
    fi
    if curl -sf -o /dev/null --max-time 1 "$url"; then return 0; fi
    sleep 0.1
  done
  tail -n 20 "$log" >&2 || true
  die "$name did not answer $url after 100 attempts"
}

# Starts weaseldb on 127.0.0.1:PORT with one I/O thread and waits until /health answers.
# Sets weaseldb_pid. Extra [server] TOML lines may follow the port. SERVER_PIN is an optional
# command prefix (taskset) for the server.
start_weaseldb() {  # PORT [SERVER_TOML_LINE...]
  local port=$1
  shift
  local dir="$bench_tmp/weaseldb-$port"
  mkdir -p "$dir/data"
  {
    echo "[server]"
    echo "io_threads = 1"
    local line
    for line in "$@"; do echo "$line"; done
    echo "[[server.interfaces]]"
    echo 'type = "tcp"'
    echo 'host = "127.0.0.1"'
    echo "port = $port"
  } >"$dir/weaseldb.toml"
  ${SERVER_PIN:-} "$WEASELDB" --config "$dir/weaseldb.toml" --data "$dir/data" >"$dir/log" 2>&1 &
  weaseldb_pid=$!
  bench_pids+=("$weaseldb_pid")
  wait_http_ready weaseldb "http://127.0.0.1:$port/health" "$weaseldb_pid" "$dir/log"
}

# Starts nginx (1 worker, no access log) on 127.0.0.1:PORT answering every request with
# `200 BODY` as application/json, with its own prefix, config and pid file in the temp dir.
# BODY must not contain ' \ or $. Sets nginx_pid.
start_nginx() {  # PORT BODY
  local port=$1 body=$2
  local dir="$bench_tmp/nginx-$port"
  mkdir -p "$dir/logs" "$dir/temp"
  local user_line=""
  if [[ $(id -u) -eq 0 ]]; then user_line="user root;"; fi  # workers may read the temp dir
  cat >"$dir/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $dir/temp/client_body;
  proxy_temp_path $dir/temp/proxy;
  fastcgi_temp_path $dir/temp/fastcgi;
  uwsgi_temp_path $dir/temp/uwsgi;
  scgi_temp_path $dir/temp/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$port;
    location / {
      default_type application/json;
      return 200 '$body';
    }
  }
}
EOF
  ${SERVER_PIN:-} nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
    >"$dir/logs/stdout.log" 2>&1 &
  nginx_pid=$!
  bench_pids+=("$nginx_pid")
  wait_http_ready nginx "http://127.0.0.1:$port/" "$nginx_pid" "$dir/logs/error.log"
}

# Prints a /proc/PID/status field in kB (VmRSS, VmHWM, ...).
proc_status_kb() {  # PID FIELD
  awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"
}

# Polls until COMMAND... succeeds: at most 100 attempts, 0.1 s apart. Fails clearly when the
# process PID exits or never gets ready, showing the end of its LOG.
wait_command_ready() {  # NAME PID LOG COMMAND...
  local name=$1 pid=$2 log=$3 attempt
  shift 3
  for ((attempt = 0; attempt < 100; attempt++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$log" >&2 || true
      die "$name exited before it was ready"
    fi
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  tail -n 20 "$log" >&2 || true
  die "$name was not ready after 100 attempts ($*)"
}

# Starts a single-node etcd (Debian's etcd-server, default durability: the WAL is fsynced
# before every answer) with its own data dir in the temp dir, clients on 127.0.0.1:PORT and
# the peer URL on 127.0.0.1:PEER_PORT, and waits until /health answers. Sets etcd_pid.
# SERVER_PIN is an optional command prefix (taskset) for the server.
start_etcd() {  # PORT PEER_PORT
  local port=$1 peer_port=$2
  local dir="$bench_tmp/etcd-$port"
  mkdir -p "$dir"
  ${SERVER_PIN:-} etcd --name bench --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "bench=http://127.0.0.1:$peer_port" \
    --logger zap --log-level warn >"$dir/log" 2>&1 &
  etcd_pid=$!
  bench_pids+=("$etcd_pid")
  wait_http_ready etcd "http://127.0.0.1:$port/health" "$etcd_pid" "$dir/log"
}

# Starts redis-server on 127.0.0.1:PORT with its dir in the temp dir, durable like a database:
# AOF on, `appendfsync always` (fsync before answering), no RDB snapshots. Extra redis.conf
# directives ("name value") may follow. Waits until PING answers. Sets redis_pid.
start_redis() {  # PORT [DIRECTIVE...]
  local port=$1
  shift
  local dir="$bench_tmp/redis-$port"
  mkdir -p "$dir"
  {
    echo "bind 127.0.0.1"
    echo "port $port"
    echo "dir $dir"
    echo "daemonize no"
    echo "appendonly yes"
    echo "appendfsync always"
    echo 'save ""'
    echo "logfile $dir/log"
    local line
    for line in "$@"; do echo "$line"; done
  } >"$dir/redis.conf"
  ${SERVER_PIN:-} redis-server "$dir/redis.conf" >"$dir/stdout.log" 2>&1 &
  redis_pid=$!
  bench_pids+=("$redis_pid")
  wait_command_ready redis "$redis_pid" "$dir/stdout.log" redis-cli -p "$port" ping
}

# "on_cpu_ns runqueue_wait_ns now_ns" summed over the threads of PID.
schedstat() {  # PID
  local now
  now=$(date +%s%N)
  cat /proc/"$1"/task/*/schedstat 2>/dev/null |
    awk -v now="$now" '{ run += $1; wait += $2 } END { printf "%.0f %.0f %s\n", run, wait, now }'
}

# Saves weaseldb's /metrics (the server at $weasel_port) to FILE.
scrape() { curl -sf "http://127.0.0.1:$weasel_port/metrics" >"$1" || die "GET /metrics failed"; }

# Sets SERVER_PIN and CLIENT_PIN, the command prefixes for servers and load generators:
# PIN=1 on 2+ CPUs puts servers on CPU 0 and clients on the others; NICENESS (empty: none)
# runs each in a session of its own at that nice. With autogroup scheduling
# (sched_autogroup_enabled=1) nice only ranks processes within one session; against other
# sessions' work the session's autogroup nice counts. So each process gets a session of its
# own (setsid: a new autogroup, no fork, since a background job of a script is not a
# process-group leader) whose autogroup nice is set before exec, which keeps the PID the
# script waits on and stops.
set_pin_and_priority() {  # PIN NICENESS
  local pin=$1 niceness=$2
  CLIENT_PIN=""
  SERVER_PIN=""
  if ((pin)) && (($(nproc) >= 2)); then
    SERVER_PIN="taskset -c 0"
    CLIENT_PIN="taskset -c 1-$(($(nproc) - 1))"
  fi
  if [[ -n "$niceness" ]]; then
    cat >"$bench_tmp/prio" <<'EOF2'
#!/bin/sh
if [ -w /proc/self/autogroup ]; then echo "$PRIO" >/proc/self/autogroup || exit 1; fi
exec nice -n "$PRIO" "$@"
EOF2
    chmod +x "$bench_tmp/prio"
    export PRIO=$niceness
    SERVER_PIN="setsid $bench_tmp/prio $SERVER_PIN"
    CLIENT_PIN="setsid $bench_tmp/prio $CLIENT_PIN"
  fi
}
