#!/usr/bin/env bash
# Memory with many live portal sessions (BENCHMARKS.md, "SSO under concurrency (issue 10)"):
# N real password logins over HTTP (the /login form with its CSRF token, argon2 on every
# one), each a new session row; the server's RSS (VmRSS, and the peak VmHWM) idle after
# start, after the logins, and after one portal page with each session; then the server is
# restarted on the same database and the sessions are used again, so the RSS of a server
# holding N live sessions is also seen without the logins' argon2 buffers.
#
# Usage: bench/sessions.sh [logins] [concurrency]   (default 10000 4)
# Environment: BUILD=0 (do not build first), LOG_DIR=target/bench (where the server log is kept)
# The server is not pinned (argon2 for 10,000 logins takes minutes on one core); the load
# generator runs on CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."
logins=${1:-10000} conc=${2:-4}
log_dir=${LOG_DIR:-$PWD/target/bench}
if [ "${BUILD:-1}" != 0 ]; then
  cargo build --release --quiet --bin sesame --example sso_load
fi
bin=$PWD/target/release/sesame
load=$PWD/target/release/examples/sso_load
work=$(mktemp -d)
mkdir -p "$log_dir"
kept_log="$log_dir/sessions-serve-$(date -u +%Y%m%dT%H%M%SZ).log"
pid=

mem() {
  awk '/^VmRSS/ {r = $2} /^VmHWM/ {h = $2} END {printf "RSS %.1f MiB (peak %.1f MiB)", r / 1024, h / 1024}' \
    "/proc/$pid/status" 2>/dev/null || echo '?'
}
stop() {
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "!! the server did not stop within 20 s after SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
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

port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
export SESAME_DATABASE_URL="sqlite://$work/sesame.db" SESAME_CERTS_DIR="$work/certs" \
  SESAME_LISTEN="127.0.0.1:$port" SESAME_BASE_URL="$base/" \
  SESAME_ADMIN_PASSWORD="bench-admin-password" RUST_LOG=${RUST_LOG:-warn}
pw="load-test-password-7"
"$bin" user add bench --email bench@example.com --password-stdin <<<"$pw" >/dev/null
"$bin" group add benchers >/dev/null
"$bin" group add-member benchers bench >/dev/null
"$bin" app add bench --template generic >/dev/null
"$bin" app grant bench benchers >/dev/null

start() {
  "$bin" serve >>"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && return 0; sleep 0.2; done
  echo "!! the server did not start; its log:" >&2
  tail -n 40 "$work/serve.log" >&2
  exit 1
}
live_rows() {
  sqlite3 "$work/sesame.db" "SELECT count(*) FROM sessions WHERE expires_at > $(date +%s%3N)" 2>/dev/null || echo '?'
}

status=0
start
commit=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')}
dirty=$(git diff --stat HEAD -- src migrations Cargo.toml 2>/dev/null | tail -1 || true)
echo "== sesame $commit${dirty:+ + uncommitted:$dirty}, $(nproc) cores, $(date -u +%FT%TZ)"
echo "== binary $(stat -c '%y' "$bin" | cut -d. -f1), server not pinned, load on CPU 1"
sleep 2
echo "== idle after start: $(mem)"
echo "== $logins logins, $conc at a time"
taskset -c 1 "$load" --mode sessions --base "$base" --user bench --password "$pw" \
  --logins "$logins" --concurrency "$conc" --cookies "$work/cookies" || status=$?
echo "== after the logins: $(mem); unexpired session rows: $(live_rows)"
taskset -c 1 "$load" --mode use-sessions --base "$base" --concurrency "$conc" \
  --cookies "$work/cookies" || status=$?
echo "== after a portal page with each session: $(mem)"
echo "== restart on the same database"
stop
start
sleep 2
echo "== idle after restart: $(mem); unexpired session rows: $(live_rows)"
taskset -c 1 "$load" --mode use-sessions --base "$base" --concurrency "$conc" \
  --cookies "$work/cookies" || status=$?
echo "== after a portal page with each session: $(mem)"
echo "== database: $(du -h "$work/sesame.db" | cut -f1) (+ WAL $(du -h "$work/sesame.db-wal" 2>/dev/null | cut -f1))"
problems=$(grep -ciE 'error|warn|panic' "$work/serve.log" || true)
echo "== server log: $(wc -l <"$work/serve.log") lines, $problems with error/warn/panic"
if [ "$status" != 0 ] || [ "$problems" != 0 ]; then
  echo "== last lines of the server log (load generator status $status):"
  tail -n 40 "$work/serve.log"
fi
exit "$status"
