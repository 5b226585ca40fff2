#!/usr/bin/env bash
# orbit-bench's server backends against each server's own benchmark tool, measured in the same run
# (release build; not a test: timing never gates CI). Issue 17, item 8 — postgres, redis and etcd.
#
# The same data and operations on both sides: RECORDS records (16-byte keys, the zero-padded record
# number; 100-byte values) loaded once by `orbit-bench load`; then, on that store's server, a single
# key read and a single key update by uniformly chosen key, with 1 and 8 clients:
#
#   postgres  orbit-bench (libpq, prepared statements)  vs  pgbench -M prepared -f <one SELECT / one
#             UPDATE by key> -c 1 / -c 8 on the same table (orbit_kv), the same managed cluster
#             restarted with the same settings. orbit-bench's update is its put, an INSERT ... ON
#             CONFLICT DO UPDATE; pgbench's "update" row is the issue's plain UPDATE, and its "upsert"
#             row runs orbit-bench's own statement (the same SQL, so that row is the harness's cost).
#   redis     orbit-bench (hiredis; HGET, and the put script: HSET + ZADD of the key index)  vs
#             redis-benchmark -t set,get -P 1 -c 1 / -c 8 -r RECORDS -d 100 (keys key:<12 digits>,
#             16 bytes), on the same server configuration. redis-benchmark's GET and SET are plain
#             string commands: the difference is what orbit-bench's ordered key space costs. The
#             "script" row has redis-benchmark send orbit-bench's own put (EVALSHA of the engine's
#             put script, loaded from Sources/RedisEngine/RedisScripts.swift, on the same 16-byte
#             keys: 0000<12 random digits>): the same commands on the server, so that row is the
#             harness's cost.
#   etcd      orbit-bench (gRPC v3: Range of one key, linearizable; Put)  vs  etcdctl, the only etcd
#             tool Debian ships (etcd's own `benchmark` is not packaged): a loop of `etcdctl get` /
#             `etcdctl put` on the same keys (ETCD_LOOP_OPS of them, one process and one connection
#             per operation, at 1 client and 8 loops in parallel) — an upper bound on the tool's cost,
#             not a like-for-like client — and `etcdctl check perf --load=s` (50 clients at a fixed
#             rate: its throughput is the rate it was asked for, printed for the record only).
#
# Printed per row: the durability mode, orbit-bench's and the tool's per-operation time (µs; at 1
# client) and throughput (ops/s; at 8 clients), and the ratios. Targets (issue 17): per-op time
# <= 1.10x the tool's at 1 client, throughput >= 0.9x at 8 clients.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-100000}
OPS=${OPS:-200000}
DURABILITY=${DURABILITY:-none}        # none or every-write
BACKENDS=${BACKENDS:-"postgres redis etcd"}
ETCD_LOOP_OPS=${ETCD_LOOP_OPS:-400}
# The tools count no bytes: orbit-bench's per-call TCP_INFO read (one getsockopt per operation) is
# off here unless COUNT_NET_BYTES=true (then the orbit-bench side carries that syscall too).
COUNT_NET_BYTES=${COUNT_NET_BYTES:-false}
WORK=${WORK:-$(mktemp -d /tmp/orbit-bench-servers.XXXXXX)}
# SCRATCH: the build directory (a second one, e.g. .build-release, lets a debug build go on beside it).
SCRATCH=${SCRATCH:-.build}
swift build -c release --product orbit-bench --scratch-path "$SCRATCH" >/dev/null
bin=$SCRATCH/release/orbit-bench
echo "work directory: $WORK  records: $RECORDS  operations per run: $OPS  durability: $DURABILITY  count_net_bytes: $COUNT_NET_BYTES"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)"

workload() {  # workload NAME MIX -> path
  cat > "$WORK/$1.yaml" <<YAML
name: bench-servers-$1
record_count: $RECORDS
operation_count: $OPS
key_size: 16
value_size: 100
key_distribution: uniform
load: false
metrics_sample_rate: 0
mix: {$2: 1}
YAML
  echo "$WORK/$1.yaml"
}
get_w=$(workload get read)
update_w=$(workload update update)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# orbit OP THREADS BACKEND -> "micros_per_op ops_per_s" of the run phase
orbit() {
  local w; [ "$1" = get ] && w=$get_w || w=$update_w
  local out="$WORK/out-$3-$1-$2"
  # postgres.exact_stats would count(*) the table every second beside the measured clients.
  local stats_off=(); [ "$3" = postgres ] && stats_off=(--set postgres.exact_stats=false)
  [ "$3" = etcd ] && stats_off=(--set etcd.exact_stats=false)
  rm -rf "$out"
  "$bin" run "$w" --backend "$3" --data-dir "$WORK/data" --reuse --set threads="$2" \
    --set durability="$DURABILITY" --set "$3.count_net_bytes=$COUNT_NET_BYTES" "${stats_off[@]}" --out "$out" --quiet >/dev/null
  local op; [ "$1" = get ] && op=get || op=update
  awk -F, -v op="$op" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
       $c["phase"] == "run" && $c["operation"] == op { print $c["micros_per_op"], $c["ops_per_s"] }' "$out/summary.csv"
}

row() {  # row BACKEND OP orbit_1 native_1 orbit_8 native_8   (each "us ops")
  awk -v b="$1" -v op="$2" -v d="$DURABILITY" -v o1="$3" -v n1="$4" -v o8="$5" -v n8="$6" 'BEGIN {
    split(o1, a); split(n1, p); split(o8, c); split(n8, q)
    printf "%-9s %-7s %-12s %11.1f %11.1f %7.2fx %12.0f %12.0f %7.2fx\n", b, op, d, a[1], p[1], a[1] / p[1], c[2], q[2], c[2] / q[2] }'
}

header() {
  printf "\n%-9s %-7s %-12s %11s %11s %8s %12s %12s %8s\n" backend op durability "orbit_us@1" "tool_us@1" "ratio" \
    "orbit_ops@8" "tool_ops@8" "ratio"
}

results=()

if [[ " $BACKENDS " == *" postgres "* ]]; then
  "$bin" load "$get_w" --backend postgres --data-dir "$WORK/data" --fresh --set durability="$DURABILITY" --quiet >/dev/null
  declare -A o
  for t in 1 8; do for op in get update; do o[$op$t]=$(orbit $op $t postgres); done; done
  pg_bin=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  as_pg=()
  if [ "$(id -u)" = 0 ]; then as_pg=(unshare --user --map-user="$(id -u postgres)" --map-group="$(id -g postgres)"); fi
  sc=off; [ "$DURABILITY" = every-write ] && sc=on
  port=$(free_port)
  "${as_pg[@]}" "$pg_bin/postgres" -D "$WORK/data/postgres/server" -p "$port" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories= -c max_connections=200 -c shared_buffers=128MB -c fsync=on -c synchronous_commit=$sc \
    > "$WORK/pg-native.log" 2>&1 &
  pg_pid=$!
  trap 'kill -INT $pg_pid 2>/dev/null || true' EXIT
  for _ in $(seq 300); do "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
  printf '\\set k random(0, %d)\nSELECT value FROM orbit_kv WHERE key = lpad(:k::text, 16, %s)::bytea;\n' $((RECORDS - 1)) "'0'" > "$WORK/get.sql"
  printf '\\set k random(0, %d)\nUPDATE orbit_kv SET value = repeat(%s, 100)::bytea WHERE key = lpad(:k::text, 16, %s)::bytea;\n' \
    $((RECORDS - 1)) "'u'" "'0'" > "$WORK/update.sql"
  printf '\\set k random(0, %d)\nINSERT INTO orbit_kv (key, value) VALUES (lpad(:k::text, 16, %s)::bytea, repeat(%s, 100)::bytea) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;\n' \
    $((RECORDS - 1)) "'0'" "'u'" > "$WORK/upsert.sql"
  declare -A n
  for t in 1 8; do for op in get update upsert; do
    n[$op$t]=$("$pg_bin/pgbench" -h 127.0.0.1 -p "$port" -U orbit -n -M prepared -f "$WORK/$op.sql" -c $t -j $t \
      -t $((OPS / t)) postgres 2>/dev/null | awk '/latency average/ { us = $4 * 1000 } /^tps/ { tps = $3 } END { print us, tps }')
  done; done
  kill -INT $pg_pid; wait $pg_pid || true; trap - EXIT
  for op in get update; do results+=("$(row postgres $op "${o[${op}1]}" "${n[${op}1]}" "${o[${op}8]}" "${n[${op}8]}")"); done
  results+=("$(row postgres upsert "${o[update1]}" "${n[upsert1]}" "${o[update8]}" "${n[upsert8]}")")
fi

if [[ " $BACKENDS " == *" redis "* ]]; then
  "$bin" load "$get_w" --backend redis --data-dir "$WORK/data" --fresh --set durability="$DURABILITY" --quiet >/dev/null
  declare -A o
  for t in 1 8; do for op in get update; do o[$op$t]=$(orbit $op $t redis); done; done
  port=$(free_port)
  redis-server "$WORK/data/redis/redis.conf" --port "$port" > "$WORK/redis-native.log" 2>&1 &
  r_pid=$!
  trap 'kill $r_pid 2>/dev/null || true' EXIT
  for _ in $(seq 300); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  # The engine's put script, as the engine loads it (the first Swift multi-line literal of RedisScripts.all).
  put_script=$(python3 - <<'PY'
import re, textwrap
s = open("Sources/RedisEngine/RedisScripts.swift").read()
body = s[s.index('// put(key, value)'):]
body = body[body.index('"""') + 3:]
print(textwrap.dedent(body[:body.index('"""')]).strip())
PY
)
  sha=$(redis-cli -p "$port" SCRIPT LOAD "$put_script")
  value=$(printf 'u%.0s' $(seq 100))
  declare -A n
  for t in 1 8; do
    # "test","rps","avg_latency_ms",...: SET runs before GET (redis-benchmark's order).
    csv=$(redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -P 1 -c $t -n "$OPS" -r "$RECORDS" -d 100 --csv 2>/dev/null)
    n[update$t]=$(echo "$csv" | awk -F'"' '$2 == "SET" { print $6 * 1000, $4 }')
    n[get$t]=$(echo "$csv" | awk -F'"' '$2 == "GET" { print $6 * 1000, $4 }')
    # The same put as orbit-bench's, on the loaded keys (__rand_int__ is 12 digits: 0000 + 12 = 16 bytes).
    csv=$(redis-benchmark -h 127.0.0.1 -p "$port" -P 1 -c $t -n "$OPS" -r "$RECORDS" --csv \
      EVALSHA "$sha" 3 orbit:data orbit:index orbit:meta "0000__rand_int__" "$value" 2>/dev/null)
    n[script$t]=$(echo "$csv" | awk -F'"' 'NR > 1 && $4 != "" { print $6 * 1000, $4 }' | tail -1)
  done
  kill $r_pid; wait $r_pid || true; trap - EXIT
  for op in get update; do results+=("$(row redis $op "${o[${op}1]}" "${n[${op}1]}" "${o[${op}8]}" "${n[${op}8]}")"); done
  results+=("$(row redis script "${o[update1]}" "${n[script1]}" "${o[update8]}" "${n[script8]}")")
fi

if [[ " $BACKENDS " == *" etcd "* ]]; then
  "$bin" load "$get_w" --backend etcd --data-dir "$WORK/data" --fresh --set durability="$DURABILITY" --quiet >/dev/null
  declare -A o
  for t in 1 8; do for op in get update; do o[$op$t]=$(orbit $op $t etcd); done; done
  port=$(free_port); peer=$(free_port)
  etcd --name orbit --data-dir "$WORK/data/etcd/server" --listen-client-urls "http://127.0.0.1:$port" \
    --advertise-client-urls "http://127.0.0.1:$port" --listen-peer-urls "http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" --initial-cluster "orbit=http://127.0.0.1:$peer" \
    --max-txn-ops 16384 --max-request-bytes 33554432 --quota-backend-bytes 8589934592 > "$WORK/etcd-native.log" 2>&1 &
  e_pid=$!
  trap 'kill $e_pid 2>/dev/null || true' EXIT
  for _ in $(seq 300); do curl -s "http://127.0.0.1:$port/health" 2>/dev/null | grep -q '"health":"true"' && break; sleep 0.1; done
  export ETCDCTL_API=3
  value=$(printf 'u%.0s' $(seq 100))
  # etcd_loop OP CLIENTS -> "micros_per_op ops_per_s": CLIENTS loops of ETCD_LOOP_OPS / CLIENTS etcdctl calls each.
  etcd_loop() {
    local per=$((ETCD_LOOP_OPS / $2)) start end
    start=$(date +%s%N)
    for c in $(seq "$2"); do
      ( for i in $(seq "$per"); do
          k="orbit/$(printf '%016d' $(( (RANDOM * 32768 + RANDOM) % RECORDS )))"
          if [ "$1" = get ]; then etcdctl --endpoints "127.0.0.1:$port" get "$k" >/dev/null
          else etcdctl --endpoints "127.0.0.1:$port" put "$k" "$value" >/dev/null; fi
        done ) &
    done
    wait
    end=$(date +%s%N)
    awk -v ns=$((end - start)) -v n=$((per * $2)) -v c="$2" 'BEGIN { print ns / 1000 / (n / c), n / (ns / 1e9) }'
  }
  declare -A n
  for t in 1 8; do for op in get update; do n[$op$t]=$(etcd_loop $op $t); done; done
  perf=$(etcdctl --endpoints "127.0.0.1:$port" check perf --load=s 2>&1 | tr '\r' '\n' | grep -oE '(PASS|FAIL)[^%]*$' | tr '\n' ' ' || true)
  kill $e_pid; wait $e_pid || true; trap - EXIT
  for op in get update; do results+=("$(row etcd $op "${o[${op}1]}" "${n[${op}1]}" "${o[${op}8]}" "${n[${op}8]}")"); done
fi

header
printf '%s\n' "${results[@]}"
if [ -n "${perf:-}" ]; then
  echo
  echo "etcd: the tool column is an etcdctl loop (a process and a connection per operation: not a like-for-like client)."
  echo "etcdctl check perf --load=s (fixed-rate writes, 50 clients): $perf"
fi
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "targets: orbit_us@1 / tool_us@1 <= 1.10; orbit_ops@8 / tool_ops@8 >= 0.9 (tools: pgbench -M prepared, redis-benchmark -P 1)"
echo "rows: update = the issue's plain UPDATE / SET on the tool side (so it includes the design's cost: an upsert, an ordered"
echo "index); upsert / script = the tool sending orbit-bench's own statement or script (the harness's cost alone)."
