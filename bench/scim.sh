#!/usr/bin/env bash
# SCIM bridge benchmark (BENCHMARKS.md). Needs scim2-server (make test installs it) and
# tests/scim/target.py. Two runs of the in-process bridge (bench/scim_bench.rs):
#  1. initial sync of USERS users to a target allowing RATE requests/s: achieved share of
#     the allowed rate, nothing lost or duplicated; then propagation latency of single changes;
#  2. the same against an unlimited target: requests per CPU-second of the bridge.
# Usage: bench/scim.sh [users] [rate]     (default 10000 200)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-10000}
rate=${2:-200}
tool=tests/scim/target.py
cargo build --release --quiet --example scim_bench
bin=$PWD/target/release/examples/scim_bench
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

start_target() { # $1: log name, rest: target.py flags; sets $url (not in a subshell,
  # so the trap knows the pid and stops the target)
  local name=$1; shift
  python3 "$tool" --port 0 --token bench-token "$@" >"$work/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q "serving on" "$work/$name.out" && break; sleep 0.1; done
  url=$(sed -n 's/^serving on \(.*\)\/$/\1/p' "$work/$name.out")
}

count_users() { # $1: base URL -> "<accounts> <distinct userNames>"
  python3 bench/count_users.py "$1" bench-token
}

echo "== sesame $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(date -u +%FT%TZ)"
echo "== 1. $users users, target allows $rate requests/s"
start_target limited --rate "$rate"
"$bin" --target "$url" --token bench-token --users "$users" --rate "$rate" --changes 100
echo "target holds (accounts, distinct userNames): $(count_users "$url")"
echo "== 2. $users users, unlimited target"
start_target unlimited
"$bin" --target "$url" --token bench-token --users "$users" --changes 20
echo "target holds (accounts, distinct userNames): $(count_users "$url")"
