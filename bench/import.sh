#!/usr/bin/env bash
# Bulk import of 1,000,000 users with bcrypt hashes from CSV (issue 5's benchmark), release
# build, on loopback. For SQLite (a fresh data dir) and PostgreSQL (a fresh database):
#   1. server: upload the CSV over HTTP (multipart), start the job, poll import/get to the end;
#      report upload time, import rows/s (the job's created_at → updated_at, and wall clock),
#      the server's peak RSS (VmHWM) and CPU time;
#   2. CLI: `aegis import FILE` on another fresh database, under /usr/bin/time -v (peak RSS);
# then `aegis import --dry-run` (parse and validate alone, no database).
# Not part of the test suite. Needs python3, curl, psql, /usr/bin/time. Stops what it starts.
#
# Environment: N (rows, default 1000000), BACKENDS (default "sqlite postgres"),
# PG (default postgres://postgres@127.0.0.1:5432/postgres), CLI=0 to skip the CLI runs,
# CSV=path to reuse a generated file, PORT (default 18081), BATCH_ROWS (import.batch_rows),
# TIMEOUT (seconds a job may run before the script gives up, default 3600).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
BACKENDS=${BACKENDS:-sqlite postgres}
PG=${PG:-postgres://postgres@127.0.0.1:5432/postgres}
PORT=${PORT:-18081}
TIMEOUT=${TIMEOUT:-3600}
cargo build --release --quiet -p aegis-cli
BIN=$PWD/target/release/aegis
WORK=$(mktemp -d)
PID=
DBS=()
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  for db in "${DBS[@]}"; do psql -q "$PG" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
export AEGIS_LOG=warn
[ -n "${BATCH_ROWS:-}" ] && export AEGIS_IMPORT_BATCH_ROWS=$BATCH_ROWS

if [ -z "${CSV:-}" ]; then
  CSV=$WORK/users.csv
  python3 bench/gen-users.py "$N" >"$CSV"
fi
N=$(($(wc -l <"$CSV") - 1))
MB=$(python3 -c "import os; print(f'{os.path.getsize(\"$CSV\")/1e6:.1f}')")
echo "== $N rows, $MB MB ($CSV)"

json() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"; }
now() { date +%s.%N; }
# CPU seconds (user + system) of every process named postgres (the server is on this machine).
pg_cpu() {
  local tick total=0 t
  tick=$(getconf CLK_TCK)
  for p in $(pgrep -x postgres); do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) && total=$((total + t))
  done
  python3 -c "print($total / $tick)"
}
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
kib_to_mb() { python3 -c "print(f'{$1/1024:.0f}')"; }

# Points AEGIS_DATA_DIR and AEGIS_DATABASE_URL at a fresh database for $1 (sqlite|postgres).
fresh_db() {
  export AEGIS_DATA_DIR=$WORK/$1-$2
  mkdir -p "$AEGIS_DATA_DIR"
  if [ "$1" = postgres ]; then
    local db="aegis_bench_$$_$2"
    psql -q "$PG" -c "CREATE DATABASE $db" >/dev/null
    DBS+=("$db")
    export AEGIS_DATABASE_URL="${PG%/*}/$db"
  else
    export AEGIS_DATABASE_URL="sqlite://$AEGIS_DATA_DIR/aegis.db"
  fi
  $BIN migrate 2>/dev/null
}

db_size() {
  if [ "$1" = postgres ]; then
    psql -tA "$AEGIS_DATABASE_URL" -c "SELECT pg_size_pretty(pg_database_size(current_database()))"
  else
    du -sh "$AEGIS_DATA_DIR" | cut -f1
  fi
}

server_run() {
  local backend=$1 base="http://127.0.0.1:$PORT"
  echo "== server, $backend (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  fresh_db "$backend" server
  echo 'bench passphrase that is long' |
    $BIN user create --email admin@bench.test --role admin --password-stdin >/dev/null 2>&1
  local token
  token=$($BIN token create --email admin@bench.test --role admin --expiry 36000)
  $BIN serve --listen "127.0.0.1:$PORT" &
  PID=$!
  for _ in $(seq 1 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
  local t0 t1 t2 t3 source job body status total
  t0=$(now)
  source=$(curl -fsS "$base/v2/users/sources/upload" -H "Authorization: Bearer $token" \
    -F 'request={"transfer_method":"multipart","file_type":"csv"};type=application/json' \
    -F "upload=@$CSV;type=text/csv" | json result.object.id)
  t1=$(now)
  echo "upload: $(secs "$t0" "$t1") s ($(python3 -c "print(f'{$MB/($t1-$t0):.0f}')") MB/s); RSS peak so far $(kib_to_mb "$(awk '/VmHWM/{print $2}' /proc/$PID/status)") MB"
  local m='{"source_field":{"source_field_name":"%s","source_field_type":"string"},"pangea_field":{"pangea_field_name":"%s","pangea_field_type":"%s"%s}}'
  local maps
  maps=$(printf "$m,$m,$m,$m" email email email '' first_name first_name string '' \
    last_name last_name string '' \
    password password string ',"password_hash_params":{"algorithm":"BCRYPT"}')
  local pg0
  pg0=$(pg_cpu)
  t2=$(now)
  job=$(curl -sS --fail-with-body "$base/v2/users/import" -H "Authorization: Bearer $token" \
    -H 'content-type: application/json' \
    -d "{\"name\":\"bench\",\"source_id\":\"$source\",\"field_mappings\":[$maps]}" | json result.id)
  local last=0 deadline=$(($(date +%s) + TIMEOUT))
  while :; do
    if [ "$(date +%s)" -gt "$deadline" ]; then
      echo "import: not finished after $TIMEOUT s; giving up" >&2
      return 1
    fi
    body=$(curl -fsS "$base/v2/users/import/get" -H "Authorization: Bearer $token" \
      -H 'content-type: application/json' -d "{\"id\":\"$job\"}")
    status=$(json result.status <<<"$body")
    [ "$status" != pending ] && break
    total=$(json result.summary.total <<<"$body")
    if python3 -c "import sys; sys.exit(0 if $(now) - $last >= 5 else 1)"; then
      echo "  $(secs "$t2" "$(now)") s: $total rows, RSS $(kib_to_mb "$(awk '/VmRSS/{print $2}' /proc/$PID/status)") MB"
      last=$(now)
    fi
    sleep 0.2
  done
  t3=$(now)
  local summary created updated
  summary=$(json result.summary <<<"$body")
  created=$(date -d "$(json result.summary.created_at <<<"$body")" +%s.%N)
  updated=$(date -d "$(json result.summary.updated_at <<<"$body")" +%s.%N)
  echo "import: $status $summary"
  echo "import: $(secs "$created" "$updated") s by the job's timestamps ($(python3 -c "print(f'{$N/($updated-$created):,.0f}')") rows/s); wall clock $(secs "$t2" "$t3") s ($(python3 -c "print(f'{$N/($t3-$t2):,.0f}')") rows/s)"
  local tick utime stime
  tick=$(getconf CLK_TCK)
  read -r utime stime < <(awk '{print $14, $15}' /proc/$PID/stat)
  echo "server: peak RSS (VmHWM) $(kib_to_mb "$(awk '/VmHWM/{print $2}' /proc/$PID/status)") MB; CPU $(python3 -c "print(f'{$utime/$tick:.1f} s user, {$stime/$tick:.1f} s system')")"
  if [ "$backend" = postgres ]; then
    echo "postgres processes: CPU $(python3 -c "print(f'{$(pg_cpu) - $pg0:.1f}')") s during the import"
  fi
  echo "login as bench1@example.com: HTTP $(curl -s -o /dev/null -w '%{http_code}' "$base/api/auth/login" \
    -H 'content-type: application/json' -d '{"username":"bench1@example.com","password":"correct horse battery staple"}')"
  echo "database size: $(db_size "$backend")"
  kill "$PID"
  wait "$PID" || true
  PID=
}

cli_run() {
  echo "== CLI (aegis import), $1 (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  fresh_db "$1" cli
  /usr/bin/time -v "$BIN" import "$CSV" >"$WORK/out" 2>"$WORK/time"
  tail -n1 "$WORK/out"
  grep -E 'Elapsed|Maximum resident|User time|System time' "$WORK/time" | sed 's/^\s*/  /'
}

for b in $BACKENDS; do server_run "$b"; done
if [ "${CLI:-1}" != 0 ]; then
  for b in $BACKENDS; do cli_run "$b"; done
  echo "== CLI dry run (parse and validate only)"
  /usr/bin/time -v "$BIN" import --dry-run "$CSV" >"$WORK/out" 2>"$WORK/time"
  tail -n1 "$WORK/out"
  grep -E 'Elapsed|Maximum resident|User time|System time' "$WORK/time" | sed 's/^\s*/  /'
fi
