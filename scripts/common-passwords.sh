#!/usr/bin/env bash
# Rebuilds src/auth/common-passwords.txt, the list new passwords are checked against
# (NIST SP 800-63B §5.1.1.2, "passwords obtained from previous breach corpuses").
#
# Source: the SecLists "10 million passwords" list, ordered by frequency (CC BY-SA 3.0,
# https://github.com/danielmiessler/SecLists), as shipped in the passablewords 1.0.1 crate
# (its src/common-passwords.txt, the first 1,000,000 entries). We take the most common
# entries until 100,000 distinct ones remain after lower-casing (the check ignores case), and
# keep those of 8 characters or more: shorter ones can never pass the length rule
# (password_min_length is at least 8). The result is sorted bytewise so that the check can
# search it in place, without building a set at start.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -sSfL -o "$tmp/p.crate" https://static.crates.io/crates/passablewords/passablewords-1.0.1.crate
tar -xzf "$tmp/p.crate" -C "$tmp"
head -n 104000 "$tmp/passablewords-1.0.1/src/common-passwords.txt" \
  | tr 'A-Z' 'a-z' | LC_ALL=C sort -u > "$tmp/all.txt"
distinct=$(wc -l < "$tmp/all.txt")
[ "$distinct" -ge 100000 ] || { echo "only $distinct distinct entries" >&2; exit 1; }
awk 'length($0) >= 8' "$tmp/all.txt" > src/auth/common-passwords.txt
echo "$distinct distinct common passwords; $(wc -l < src/auth/common-passwords.txt) of 8+ characters kept"
