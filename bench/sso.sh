#!/usr/bin/env bash
# SSO benchmark (BENCHMARKS.md, "SSO under concurrency (issue 10)"): SP-initiated
# HTTP-Redirect SSO with an existing session, each answer a freshly signed Response with a
# signed Assertion (two RSA-2048 signatures), on loopback. sesame is pinned to CPU 0 and the
# load generator to CPU 1; `openssl speed rsa2048` runs on CPU 0 in the same run for the cost
# of a signature on that core.
#
# Usage: bench/sso.sh [seconds-per-level]   (default 8)
# Environment:
#   ROUNDS=3            rounds over the levels, all on one server and the same sessions
#   LEVELS=1,2,4,8      concurrencies (one connection and one portal session each)
#   IDLE_BETWEEN=0      seconds to idle between round 1 and round 2 (the wedge came after ~50)
#   MODE=rounds         or `saturation`: the earlier benchmark (16 connections on one session,
#                       then an open loop at half the rate); its seconds default to 15
#   SIGN_RESPONSE=true  sign the Response as well as the Assertion (2 signatures per answer);
#                       the default in MODE=saturation is false, as in the earlier table
#   CORES=2             the server on both cores (and the load beside it) instead of
#                       server on CPU 0 and load on CPU 1: the "2 cores at saturation" figure
#   PERF=file           also record a CPU profile of the server (perf record)
#   BUILD=0             do not build first (measure the binaries already in target/release)
#   COMMIT=...          what to print as the commit (default: git rev-parse HEAD)
#   LOG_DIR=target/bench  where the server log is kept
# Exit status 2 when any answer was not a 2xx signed response or a request failed.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${MODE:-rounds}
if [ "$mode" = saturation ]; then
  secs=${1:-15} sign_response=${SIGN_RESPONSE:-false}
else
  secs=${1:-8} sign_response=${SIGN_RESPONSE:-true}
fi
if [ "$sign_response" = true ]; then signatures=2; else signatures=1; fi
rounds=${ROUNDS:-3} levels=${LEVELS:-1,2,4,8} idle=${IDLE_BETWEEN:-0}
log_dir=${LOG_DIR:-$PWD/target/bench}
if [ "${BUILD:-1}" != 0 ]; then
  cargo build --release --quiet --bin sesame --example sso_load
fi
bin=$PWD/target/release/sesame
load=$PWD/target/release/examples/sso_load
work=$(mktemp -d)
mkdir -p "$log_dir"
kept_log="$log_dir/sso-serve-$(date -u +%Y%m%dT%H%M%SZ).log"
pid= spid=

rss() { awk '/^VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo '?'; }

# Stops the server (SIGTERM: graceful shutdown), and perf with it; a server that does not
# stop within 20 s is killed, and that is said.
stop() {
  [ -n "$pid" ] || return 0
  kill -TERM "${spid:-$pid}" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "!! the server did not stop within 20 s after SIGTERM; killing it" >&2
    [ -z "$spid" ] || kill -KILL "$spid" 2>/dev/null || true
    sleep 1
    ! kill -0 "$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  pid=
}
cleanup() {
  stop
  [ -f "$work/serve.log" ] && cp "$work/serve.log" "$kept_log" && echo "server log kept: $kept_log"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${CORES:-1}" = 2 ]; then server_cpus=0,1 load_cpus=0,1; else server_cpus=0 load_cpus=1; fi
port=$((20000 + RANDOM % 20000))
export SESAME_DATABASE_URL="sqlite://$work/sesame.db" SESAME_CERTS_DIR="$work/certs" \
  SESAME_LISTEN="127.0.0.1:$port" SESAME_BASE_URL="http://127.0.0.1:$port/" \
  SESAME_ADMIN_PASSWORD="bench-admin-password" RUST_LOG=${RUST_LOG:-warn}
pw="load-test-password-7"
"$bin" user add bench --email bench@example.com --password-stdin <<<"$pw" >/dev/null
"$bin" group add benchers >/dev/null
"$bin" group add-member benchers bench >/dev/null
"$bin" app add bench --template generic >/dev/null
"$bin" app grant bench benchers >/dev/null
# The Response signed as well as the Assertion (the load generator checks the first answer).
"$bin" app sso bench --sp-entity-id https://sp.bench.example --acs-url https://sp.bench.example/acs \
  --sign-response "$sign_response" >/dev/null
"$bin" app sso bench | grep -i 'sign response' || true

if [ -n "${PERF:-}" ]; then
  taskset -c 0 perf record -F 499 -g -o "$PERF" "$bin" serve >"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do spid=$(pgrep -P "$pid" | head -1 || true); [ -n "$spid" ] && break; sleep 0.1; done
else
  taskset -c "$server_cpus" "$bin" serve >"$work/serve.log" 2>&1 &
  pid=$! spid=$pid
fi
up=
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && up=1 && break
  sleep 0.2
done
if [ -z "$up" ] || [ -z "$spid" ]; then
  echo "!! the server did not start; its log:" >&2
  tail -n 40 "$work/serve.log" >&2
  exit 1
fi

commit=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')}
dirty=$(git diff --stat HEAD -- src migrations Cargo.toml 2>/dev/null | tail -1 || true)
echo "== sesame $commit${dirty:+ + uncommitted:$dirty}, $(nproc) cores, $(date -u +%FT%TZ)"
echo "== binary $(stat -c '%y' "$bin" | cut -d. -f1), server pid $spid on CPU 0, load on CPU 1"
echo "== openssl speed rsa2048 (sign, CPU 0)"
sign=$(taskset -c 0 openssl speed -seconds 5 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6}')
echo "sign/s: $sign"
echo "== server RSS idle after start: $(rss "$spid")"

status=0
if [ "$mode" = saturation ]; then
  echo "== SSO (saturation), server on 1 core, load from another"
  out=$(taskset -c 1 "$load" --mode saturation --base "http://127.0.0.1:$port" --slug bench \
    --sp-entity https://sp.bench.example --acs https://sp.bench.example/acs \
    --user bench --password "$pw" --concurrency 16 --seconds "$secs") || status=$?
  echo "$out"
  rate=$(echo "$out" | awk -F'rate=' '/^max/ {split($2, a, "/"); print a[1]}')
  awk -v r="$rate" -v s="$sign" 'BEGIN { if (s > 0) printf "ratio SSO/s to sign-only/s: %.2f\n", r / s }'
else
  echo "== SSO, $rounds rounds × levels $levels × ${secs}s, idle ${idle}s after round 1"
  taskset -c "$load_cpus" "$load" --mode rounds --base "http://127.0.0.1:$port" --slug bench \
    --sp-entity https://sp.bench.example --acs https://sp.bench.example/acs \
    --user bench --password "$pw" --levels "$levels" --rounds "$rounds" --seconds "$secs" \
    --idle-between "$idle" --server-pid "$spid" --server-core 0 --clk-tck "$(getconf CLK_TCK)" \
    --sign-per-s "${sign:-0}" --signatures "$signatures" || status=$?
fi
echo "== server RSS after the run: $(rss "$spid")"
# The VM's signing rate drifts (±10 % between runs): measured again, to show by how much.
sign2=$(taskset -c 0 openssl speed -seconds 5 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6}')
echo "== openssl speed rsa2048 again after the run (CPU 0, server idle): sign/s $sign2"
problems=$(grep -ciE 'error|warn|panic' "$work/serve.log" || true)
echo "== server log: $(wc -l <"$work/serve.log") lines, $problems with error/warn/panic"
if [ "$status" != 0 ] || [ "$problems" != 0 ]; then
  echo "== last lines of the server log (load generator status $status):"
  tail -n 40 "$work/serve.log"
fi
exit "$status"
