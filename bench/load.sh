#!/usr/bin/env bash
# Measures, on loopback, with a release build:
#   1. GET /me requests per second with a session token (wrk, 10 s)
#   2. GET /me requests per second with an API token (wrk, 10 s)
#   3. one POST /auth login's latency at the default argon2id parameters (median of 20)
# Not part of the test suite. Needs wrk (apt-get install wrk). Stops everything it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=target/release/aegis
DIR=$(mktemp -d)
PORT=${PORT:-18080}
export AEGIS_DATA_DIR="$DIR" AEGIS_LOG=warn
PASS='bench passphrase that is long'
echo "$PASS" | $BIN user create --email bench@example.com --role admin --password-stdin >/dev/null
API=$($BIN token create --email bench@example.com --role admin --expiry 3600)
$BIN serve --listen 127.0.0.1:$PORT & PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do curl -fs localhost:$PORT/healthz >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -fs localhost:$PORT/auth -H 'content-type: application/json' -d "{\"username\":\"bench@example.com\",\"password\":\"$PASS\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
echo "== GET /me, session JWT"
wrk -t2 -c64 -d10s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:$PORT/me | grep -E 'Requests/sec|Latency|Non-2xx'
echo "== GET /me, API token"
wrk -t2 -c64 -d10s -H "Authorization: Bearer $API" http://127.0.0.1:$PORT/me | grep -E 'Requests/sec|Latency|Non-2xx'
echo "== POST /auth latency (argon2id m=19MiB t=2 p=1), 20 sequential logins"
for _ in $(seq 1 20); do
  curl -fs -o /dev/null -w '%{time_total}\n' localhost:$PORT/auth -H 'content-type: application/json' -d "{\"username\":\"bench@example.com\",\"password\":\"$PASS\"}"
done | sort -n | awk '{a[NR]=$1} END {printf "median %.1f ms, min %.1f ms, max %.1f ms\n", a[int(NR/2)+1]*1000, a[1]*1000, a[NR]*1000}'
