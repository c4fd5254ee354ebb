#!/usr/bin/env bash
# Measures Ferrovex's auth routes beside the Better Auth peer (dynamic and static JWKS), on this
# machine, in one run, with the same Rust load generator. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${SECS:-8}"
if [ ! -d bench/better-auth-peer/node_modules/better-auth ]; then
  (cd bench/better-auth-peer && npm ci --no-audit --no-fund)
fi
cargo build --release --quiet
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
urls=()
for mode in dynamic static; do
  log="$(mktemp)"
  (cd bench/better-auth-peer && MODE="$mode" exec node server.mjs >"$log" 2>&1) &
  pids+=("$!")
  for _ in $(seq 1 100); do
    url="$(grep -o 'peer: http://[0-9.:]*' "$log" | cut -d' ' -f2 || true)"
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$log"; echo "peer ($mode) did not start" >&2; exit 1; }
  urls+=(--peer-url "$url")
done
./target/release/ferrovex bench --suite auth --duration-secs "$secs" "${urls[@]}"
