#!/usr/bin/env bash
# The long crash test: tests/api/test_crash.py with many kill -9 cycles (the default test run
# does 3). Builds the binaries it needs, then runs the same pytest test.
# Usage: crash-test.sh [cycles]          (default 50)
# Environment:
#   WEASEL_CRASH_SEED     workload and kill points (default: a fresh one, printed)
#   WEASEL_CRASH_FLAVOUR  build flavour to test: release (default), asan, tsan, debug
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cycles=${1:-50}
if ! [[ "$cycles" =~ ^[1-9][0-9]*$ ]]; then
  echo "crash-test.sh: cycles must be a positive integer, got '$cycles'" >&2
  exit 2
fi
flavour=${WEASEL_CRASH_FLAVOUR:-release}
seed=${WEASEL_CRASH_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
"$root/scripts/install-deps.sh" build test
"$root/scripts/build.sh" "$flavour" weaseldb weasel_log_dump >/dev/null
echo "crash test ($flavour): $cycles cycles, seed $seed" \
  "(rerun: WEASEL_CRASH_SEED=$seed WEASEL_CRASH_FLAVOUR=$flavour $0 $cycles)"
# Debian's pytest lives in /usr/bin/python3, which may not be the python3 first on PATH.
exec env WEASEL_CRASH_CYCLES="$cycles" WEASEL_CRASH_SEED="$seed" \
  WEASELDB_BIN="$root/build/$flavour/weaseldb" \
  /usr/bin/python3 -m pytest -q -s -p no:cacheprovider "$root/tests/api/test_crash.py"
