#!/usr/bin/env bash
# Starts the local PostgreSQL cluster (Debian's packaging) and makes sure the test role
# exists, then prints the admin URL the tests create their throwaway databases from.
# Leaves an already-reachable server alone.
set -euo pipefail
url=${SESAME_TEST_PG_URL:-postgres://sesame:sesame@127.0.0.1:5432/postgres}

# Throwaway databases of earlier runs are dropped first.
drop_old() {
  psql "$url" -Atqc "select datname from pg_database where datname like 'sesame_test_%'" 2>/dev/null |
    while read -r db; do psql "$url" -qc "drop database if exists \"$db\"" >/dev/null 2>&1 || true; done
}

if PGCONNECT_TIMEOUT=3 psql "$url" -Atqc 'select 1' >/dev/null 2>&1; then
  drop_old
  echo "$url"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "pg: PostgreSQL is not reachable at $url and starting it needs root." >&2
  echo "    As root: pg_ctlcluster <version> main start, then create role sesame (password sesame, CREATEDB)." >&2
  exit 1
fi

version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
if [ -z "$version" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
  pg_createcluster "$version" main >&2
fi
pg_ctlcluster "$version" main start >&2 2>/dev/null || true
for _ in $(seq 1 30); do
  runuser -u postgres -- psql -Atqc 'select 1' >/dev/null 2>&1 && break
  sleep 0.5
done
runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qc "
  DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sesame') THEN
      CREATE ROLE sesame LOGIN CREATEDB PASSWORD 'sesame';
    END IF;
  END \$\$;" >&2
for _ in $(seq 1 20); do
  PGCONNECT_TIMEOUT=3 psql "$url" -Atqc 'select 1' >/dev/null 2>&1 && { drop_old; echo "$url"; exit 0; }
  sleep 0.5
done
echo "pg: PostgreSQL started but $url still refuses connections" >&2
exit 1
