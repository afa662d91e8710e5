#!/usr/bin/env bash
# Configures and builds one flavour into build/<flavour>.
# Usage: build.sh [release|debug|asan|tsan|fuzz] [ninja targets...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
shift || true
dir="$root/build/$flavour"
args=(-G Ninja -S "$root" -B "$dir" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
case "$flavour" in
  release) args+=(-DCMAKE_BUILD_TYPE=Release) ;;
  debug) args+=(-DCMAKE_BUILD_TYPE=Debug) ;;
  asan) args+=(-DCMAKE_BUILD_TYPE=Debug -DWEASEL_SANITIZE=address,undefined -DWEASEL_BENCH=OFF) ;;
  tsan) args+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEASEL_SANITIZE=thread -DWEASEL_BENCH=OFF) ;;
  fuzz) args+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEASEL_FUZZ=ON
               -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  *) echo "build.sh: unknown flavour '$flavour'" >&2; exit 2 ;;
esac
if [[ ! -f "$dir/build.ninja" ]]; then
  cmake "${args[@]}" >/dev/null
fi
ninja -C "$dir" "$@"
