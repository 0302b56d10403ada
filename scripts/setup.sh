#!/usr/bin/env bash
# Installs what building and testing sesame needs on Debian/Ubuntu. As root it installs
# missing packages itself; otherwise it prints the exact apt-get line to run and fails.
# Usage: scripts/setup.sh [build|test]
set -euo pipefail
mode=${1:-build}

# Build: a C toolchain (SQLite is compiled in) and OpenSSL headers (signing, TLS).
# Test: PostgreSQL for the store tests on the second backend; xmlsec1 and Python 3 with pip
# for the real SAML service provider (pysaml2) the SSO tests sign in to; chromium and
# chromium-driver (chromedriver) for the browser tests (tests/it/webdriver.rs); libxml2-utils
# (xmllint) as the second canonicalizer of the differential c14n test (tests/it/c14n_diff.rs);
# prometheus for `promtool check metrics` on every scrape of tests/it/metrics.rs.
pkgs=(build-essential pkg-config libssl-dev ca-certificates)
if [ "$mode" = test ]; then
  pkgs+=(postgresql postgresql-client xmlsec1 libxml2-utils chromium chromium-driver prometheus)
  command -v python3 >/dev/null 2>&1 || pkgs+=(python3 python3-pip)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "setup: missing system packages. Run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

# Python test peers, pinned in tests/*/requirements.txt, installed from PyPI when missing:
# pysaml2 (the SAML service provider), scim2-server (the SCIM target), scim2-tester (the
# SCIM client that checks sesame's own /scim/v2) and aiosmtpd (the SMTP sink the mail tests
# send to).
pip_install() {
  local user=()
  [ "$(id -u)" -eq 0 ] || user=(--user)
  python3 -m pip install -q "${user[@]}" -r "$1" ||
    python3 -m pip install -q "${user[@]}" --break-system-packages -r "$1"
}
if [ "$mode" = test ]; then
  python3 -c "import saml2" >/dev/null 2>&1 || { echo "setup: installing pysaml2"; pip_install tests/sp/requirements.txt; }
  python3 -c "import scim2_server" >/dev/null 2>&1 || { echo "setup: installing scim2-server"; pip_install tests/scim/requirements.txt; }
  python3 -c "import scim2_tester, httpx2" >/dev/null 2>&1 || { echo "setup: installing scim2-tester"; pip_install tests/scim_client/requirements.txt; }
  python3 -c "import aiosmtpd" >/dev/null 2>&1 || { echo "setup: installing aiosmtpd"; pip_install tests/smtp/requirements.txt; }
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found. Install Rust (https://rustup.rs) or Debian's cargo package, then run make again." >&2
  exit 1
fi
