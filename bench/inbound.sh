#!/usr/bin/env bash
# Inbound SCIM: creates/s at sesame's /scim/v2 (SQLite default) and propagation from the
# inbound create to the account at an outbound target (tests/scim/target.py, unlimited).
# Usage: bench/inbound.sh [users] [clients]    (default 2000 8)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-2000}
clients=${2:-8}
cargo build --release --quiet --example inbound_bench
work=$(mktemp -d)
python3 tests/scim/target.py --port 0 --token bench-token >"$work/target.out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q "serving on" "$work/target.out" && break; sleep 0.1; done
url=$(sed -n 's/^serving on \(.*\)\/$/\1/p' "$work/target.out")
echo "== sesame $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(date -u +%FT%TZ)"
./target/release/examples/inbound_bench --target "$url" --token bench-token --users "$users" --clients "$clients"
