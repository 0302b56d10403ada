#!/usr/bin/env bash
# SSO benchmark (BENCHMARKS.md): SP-initiated HTTP-Redirect SSO with an existing session,
# each answer a freshly signed assertion (RSA-2048), on loopback. sesame is pinned to CPU 0
# and the load generator to CPU 1, so the rate is per core; `openssl speed rsa2048` runs on
# CPU 0 in the same run for the sign-only ratio.
# Usage: bench/sso.sh [seconds]   (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
cargo build --release --quiet --bin sesame --example sso_load
bin=$PWD/target/release/sesame
load=$PWD/target/release/examples/sso_load
work=$(mktemp -d)
trap 'kill -INT $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT

port=$((20000 + RANDOM % 20000))
export SESAME_DATABASE_URL="sqlite://$work/sesame.db" SESAME_CERTS_DIR="$work/certs" \
  SESAME_LISTEN="127.0.0.1:$port" SESAME_BASE_URL="http://127.0.0.1:$port/" \
  SESAME_ADMIN_PASSWORD="bench-admin-password" RUST_LOG=warn
pw="bench-user-password"
"$bin" user add bench --email bench@example.com --password-stdin <<<"$pw" >/dev/null
"$bin" group add benchers >/dev/null
"$bin" group add-member benchers bench >/dev/null
"$bin" app add bench --template generic >/dev/null
"$bin" app grant bench benchers >/dev/null
"$bin" app sso bench --sp-entity-id https://sp.bench.example --acs-url https://sp.bench.example/acs >/dev/null
# PERF=file records a CPU profile of the server (perf record) for the run.
if [ -n "${PERF:-}" ]; then
  taskset -c 0 perf record -F 499 -g -o "$PERF" "$bin" serve >"$work/serve.log" 2>&1 &
else
  taskset -c 0 "$bin" serve >"$work/serve.log" 2>&1 &
fi
pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

echo "== sesame $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(date -u +%FT%TZ)"
echo "== openssl speed rsa2048 (sign, 1 core)"
sign=$(taskset -c 0 openssl speed -seconds 5 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6}')
echo "sign/s: $sign"
echo "== SSO, server on 1 core, load from another"
out=$(taskset -c 1 "$load" --base "http://127.0.0.1:$port" --slug bench \
  --sp-entity https://sp.bench.example --acs https://sp.bench.example/acs \
  --user bench --password "$pw" --concurrency 16 --seconds "$secs")
echo "$out"
rate=$(echo "$out" | awk -F'rate=' '/^max/ {split($2, a, "/"); print a[1]}')
awk -v r="$rate" -v s="$sign" 'BEGIN { printf "ratio to sign-only: %.2f\n", r / s }'
