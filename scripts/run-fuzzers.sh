#!/usr/bin/env bash
# Builds the `fuzz` flavour and runs every libFuzzer target over its corpus for a bounded time.
# Fails (exit 1) if any target crashes, leaks, times out on an input or has no seed corpus.
#
# Targets are discovered by convention: tests/fuzz/fuzz_<name>.cpp builds target fuzz_<name>,
# whose seed corpus is tests/fuzz/corpus/<name>/. The seed corpus is only read; inputs that
# libFuzzer finds go to build/fuzz/corpus/<name>/ and crash reproducers to
# build/fuzz/artifacts/<name>/ (copy the interesting ones into the seed corpus by hand).
#
# Usage: run-fuzzers.sh [seconds per target, default 20] [name...]   (names without fuzz_)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-20}
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds == 0)); then
  echo "run-fuzzers.sh: seconds must be a positive integer, got '$seconds'" >&2
  exit 2
fi

targets=()
for src in "$root"/tests/fuzz/fuzz_*.cpp; do
  [[ -e "$src" ]] || continue
  target=$(basename "$src" .cpp)
  if (($# > 0)); then
    wanted=0
    for name in "$@"; do [[ "fuzz_$name" == "$target" ]] && wanted=1; done
    ((wanted)) || continue
  fi
  targets+=("$target")
done
if ((${#targets[@]} == 0)); then
  echo "run-fuzzers.sh: no fuzz targets found (tests/fuzz/fuzz_*.cpp)" >&2
  exit 2
fi

"$root/scripts/build.sh" fuzz "${targets[@]}"

out="$root/build/fuzz"
failed=()
for target in "${targets[@]}"; do
  name=${target#fuzz_}
  seeds="$root/tests/fuzz/corpus/$name"
  if [[ ! -d "$seeds" ]] || [[ -z "$(ls -A "$seeds")" ]]; then
    echo "FAIL $target: no seed corpus in tests/fuzz/corpus/$name/" >&2
    failed+=("$target")
    continue
  fi
  mkdir -p "$out/corpus/$name" "$out/artifacts/$name" "$out/logs"
  log="$out/logs/$target.log"
  echo "== $target: ${seconds}s over tests/fuzz/corpus/$name/ (log: $log)"
  if "$out/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$out/artifacts/$name/" \
      "$out/corpus/$name" "$seeds" >"$log" 2>&1; then
    grep -E '^#[0-9]+.*(DONE|pulse)' "$log" | tail -n 1 || true
    grep -E 'stat::number_of_executed_units' "$log" || true
  else
    echo "FAIL $target (exit $?); last lines of $log:" >&2
    tail -n 40 "$log" >&2
    failed+=("$target")
  fi
done

if ((${#failed[@]} > 0)); then
  echo "run-fuzzers.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "run-fuzzers.sh: all ${#targets[@]} fuzz target(s) passed"
