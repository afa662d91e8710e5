#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run every test:
#   unit tests (release), API tests against the real binary (pytest, real Prometheus),
#   unit tests under ASan+UBSan, concurrency tests under TSan, and a short fuzzing run.
# Every step runs even if an earlier one failed; the exit code says whether all passed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)
fuzz_seconds=${WEASEL_FUZZ_SECONDS:-10}
# Debian's pytest lives in /usr/bin/python3, which may not be the python3 first on PATH.
python=/usr/bin/python3

"$root/scripts/install-deps.sh" build test || exit 1

passed=0
failed=0
failed_steps=()
step() {
  local name=$1
  shift
  echo "==> $name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "==> $name: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    failed_steps+=("$name")
    echo "==> $name: FAILED ($((SECONDS - start)) s)"
  fi
}

step "build release" scripts/build.sh release -j"$jobs"
step "unit tests (release)" ctest --test-dir build/release --output-on-failure -j"$jobs"
step "API tests (pytest)" env WEASELDB_BIN="$root/build/release/weaseldb" \
  "$python" -m pytest -q -p no:cacheprovider tests/api
step "build asan" scripts/build.sh asan -j"$jobs"
step "unit tests (ASan+UBSan)" env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j"$jobs"
# The same API tests against the ASan+UBSan binary: bad input must never trip a sanitizer.
step "API tests (pytest, ASan+UBSan binary)" env WEASELDB_BIN="$root/build/asan/weaseldb" \
  ASAN_OPTIONS=detect_leaks=1 "$python" -m pytest -q -p no:cacheprovider tests/api
# TSan only runs the concurrency-labelled tests, so only their targets are built (a test's
# target has the test's name).
build_tsan() {
  scripts/build.sh tsan build.ninja >/dev/null || return 1
  local targets
  targets=$(ctest --test-dir build/tsan -L concurrency -N | sed -n 's/^ *Test *#[0-9]*: //p')
  [[ -n "$targets" ]] || return 1
  # shellcheck disable=SC2086 # one word per target
  scripts/build.sh tsan -j"$jobs" $targets
}
step "build tsan" build_tsan
step "concurrency tests (TSan)" env TSAN_OPTIONS="halt_on_error=1 suppressions=$root/tests/tsan.supp" \
  ctest --test-dir build/tsan -L concurrency --output-on-failure
step "fuzzing (${fuzz_seconds} s per target)" scripts/run-fuzzers.sh "$fuzz_seconds"

echo
if ((failed > 0)); then
  echo "failed steps: ${failed_steps[*]}"
fi
echo "summary: $passed passed, $failed failed"
((failed == 0))
