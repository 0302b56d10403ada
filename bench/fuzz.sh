#!/usr/bin/env bash
# The long fuzz campaign of issue 11 (BENCHMARKS.md, "Fuzzing (issue 11)"): each target of
# tests/fuzz.rs in a release build for N executions (default 10,000,000), or FUZZ_SECS
# seconds if that comes first; then one line per target with its executions, execs/s,
# crashes (panics, failed properties, process deaths) and hangs.
#
# Usage: bench/fuzz.sh [execs-per-target] [target...]   (default: 10000000, every target)
# Environment: FUZZ_SECS (a time cap per target), FUZZ_SEED (decimal or 0x-hex), JOBS (targets
# run at once; default 2, one per core), LOG_DIR=target/bench (one log per target, with any
# crash input in base64), BUILD=0 (use the test binary already built).
set -euo pipefail
cd "$(dirname "$0")/.."
execs=${1:-10000000}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(redirect post authn_request dsig sp_metadata scim_response forms logo)
fi
jobs=${JOBS:-2}
log_dir=${LOG_DIR:-$PWD/target/bench}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$log_dir"

# The test binary itself, so that the runs do not wait on cargo's build lock.
build_args=(test --release --test fuzz --no-run)
if [ "${BUILD:-1}" != 0 ]; then
  cargo "${build_args[@]}"
fi
bin=$(cargo "${build_args[@]}" 2>&1 | sed -n 's/.*Executable tests\/fuzz.rs (\(.*\))/\1/p' | tail -1)
[ -x "$bin" ] || { echo "fuzz test binary not found" >&2; exit 1; }

echo "# bench/fuzz.sh on $(uname -n): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src tests || echo ' + working tree'), $(date -u '+%F %T') UTC"
echo "# $execs execs per target${FUZZ_SECS:+, at most $FUZZ_SECS s each}, $jobs at once, FUZZ_SEED=${FUZZ_SEED:-default}"

run_one() {
  local t=$1 log="$log_dir/fuzz-$1-$stamp.log" status=ok
  FUZZ_EXECS=$execs RUST_BACKTRACE=0 "$bin" --exact "$t" --nocapture > "$log" 2>&1 || status=FAILED
  local summary
  summary=$(grep -m1 '^fuzz-summary' "$log" || echo "fuzz-summary target=$t")
  local crashes died hangs
  crashes=$(grep -c '^CRASH' "$log" || true)
  hangs=$(grep -c '^HANG' "$log" || true)
  printf '%s status=%s crash_lines=%s hangs=%s log=%s\n' "$summary" "$status" "$crashes" "$hangs" "$log"
}
export -f run_one
export bin execs log_dir stamp

started=$(date +%s)
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}' | sort
echo "# wall time $(( $(date +%s) - started )) s"
