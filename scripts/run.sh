#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, start weaseldb with its defaults
# (127.0.0.1:8080, data in ./data). Extra arguments go to weaseldb.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh" build
"$root/scripts/build.sh" release weaseldb >/dev/null
exec "$root/build/release/weaseldb" "$@"
