#!/usr/bin/env bash
# `orbit-bench serve --protocol resp` against a real redis-server, with redis-benchmark on both, in
# the same run (release build; not a test: timing never gates CI). Issue 20, item 1.
#
# Each server in turn, on a free loopback port, then
#   redis-benchmark -t set,get,incr,mset -n N -c CLIENTS -P PIPELINE -r KEYSPACE -q
# Servers: serve over each backend of BACKENDS (DURABILITY: none by default, every-write to compare
# with appendfsync always), and redis-server with appendfsync always and everysec (AOF on, no RDB).
# Printed per test: requests/s of each server and the ratio serve ÷ redis(everysec) and
# serve ÷ redis(always). The serve loop's own cost per request: serve over the in-memory backend
# at -P 1 -c 1 (one request per round trip) against redis-server at the same settings, as µs/request.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
KEYSPACE=${KEYSPACE:-100000}
DURABILITY=${DURABILITY:-none}
BACKENDS=${BACKENDS:-"lsm cow rocksdb memory"}
TESTS=set,get,incr,mset
WORK=${WORK:-$(mktemp -d /tmp/orbit-bench-resp.XXXXXX)}
swift build -c release --product orbit-bench >/dev/null
bin=$PWD/.build/release/orbit-bench
echo "work directory: $WORK  requests: $N  clients: $CLIENTS  pipeline: $PIPELINE  keyspace: $KEYSPACE  serve durability: $DURABILITY"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ping() { for _ in $(seq 1 200); do [ "$(redis-cli -p "$1" PING 2>/dev/null)" = PONG ] && return 0; sleep 0.05; done; echo "no answer on port $1" >&2; return 1; }

# bench PORT EXTRA... -> "TEST rps" lines
bench() {
  local port=$1; shift
  redis-benchmark -h 127.0.0.1 -p "$port" -t "$TESTS" -n "$N" -c "$CLIENTS" -P "$PIPELINE" -r "$KEYSPACE" -q "$@" 2>&1 \
    | tr '\r' '\n' | awk -F': ' '/requests per second/ { split($2, a, " "); t=$1; sub(/ .*/, "", t); print t, a[1] }'
}

pid=""
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=""; }
trap stop EXIT

# start_redis NAME APPENDFSYNC -> port (sets pid)
start_redis() {
  local dir="$WORK/redis-$1" port; port=$(free_port); mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync "$2" --dir "$dir" >"$dir/log" 2>&1 &
  pid=$!; wait_ping "$port"; echo "$port"
}
start_serve() {
  local port; port=$(free_port)
  "$bin" serve --protocol resp --backend "$1" --data-dir "$WORK/serve" --listen "127.0.0.1:$port" --set durability="$DURABILITY" \
    >"$WORK/serve-$1.log" 2>&1 &
  pid=$!; wait_ping "$port"; echo "$port"
}

declare -A rps
run() {  # run LABEL PORT
  while read -r t v; do rps["$1/$t"]=$v; done < <(bench "$2")
}
for fsync in always everysec; do
  port=$(start_redis "$fsync" "$fsync"); run "redis-$fsync" "$port"; stop
done
for b in $BACKENDS; do
  port=$(start_serve "$b"); run "serve-$b" "$port"; stop
done

printf '\n%-20s' server; for t in SET GET INCR MSET; do printf '%14s' "$t"; done; echo
for s in redis-always redis-everysec $(for b in $BACKENDS; do echo "serve-$b"; done); do
  printf '%-20s' "$s"; for t in SET GET INCR MSET; do printf '%14s' "${rps[$s/$t]:-?}"; done; echo
done
echo; echo "ratios serve ÷ redis (requests/s; >1: serve is faster)"
for b in $BACKENDS; do
  for ref in everysec always; do
    printf '%-20s' "$b / $ref"
    for t in SET GET INCR MSET; do
      printf '%14s' "$(awk -v a="${rps[serve-$b/$t]:-0}" -v b="${rps[redis-$ref/$t]:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }')"
    done
    echo
  done
done

# The serve loop's own cost: one request per round trip, one client, the in-memory engine.
mem=$(echo "$BACKENDS" | tr ' ' '\n' | grep -x memory || true)
if [ -n "$mem" ]; then
  echo; echo "per-request cost at -P 1 -c 1 (GET, µs/request = 1e6 / requests/s)"
  for side in redis serve; do
    if [ $side = redis ]; then port=$(start_redis loop everysec); else port=$(start_serve memory); fi
    v=$(redis-benchmark -h 127.0.0.1 -p "$port" -t get -n "$N" -c 1 -P 1 -q 2>&1 | tr '\r' '\n' | awk -F': ' '/requests per second/ { split($2, a, " "); print a[1] }')
    stop
    printf '%-8s %10s req/s  %8s µs/request\n' "$side" "$v" "$(awk -v v="$v" 'BEGIN { printf "%.1f", 1e6 / v }')"
  done
fi
