#!/usr/bin/env bash
# Installs the Debian 12 packages WeaselDB needs. Idempotent: runs `apt-get update` once and
# only when something is missing. Usage: install-deps.sh [build|test|bench]... (default: build)
set -euo pipefail

build_pkgs=(cmake ninja-build g++ gperf pkg-config
  libsimdjson-dev libtoml11-dev libspdlog-dev libfmt-dev doctest-dev libbenchmark-dev
  libxxhash-dev nlohmann-json3-dev rapidjson-dev liblz4-dev libzstd-dev libsnappy-dev libssl-dev
  librocksdb-dev libleveldb-dev)  # the last two: linked only into bench/db_bench
test_pkgs=(clang libclang-rt-14-dev libhttp-parser-dev python3 python3-pytest python3-requests
  prometheus curl chromium)
bench_pkgs=(nginx wrk etcd-server etcd-client redis-server strace liburing-dev)

want=("${build_pkgs[@]}")
for set in "$@"; do
  case "$set" in
    build) ;;
    test) want+=("${test_pkgs[@]}") ;;
    bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
    *) echo "install-deps.sh: unknown set '$set' (build|test|bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
