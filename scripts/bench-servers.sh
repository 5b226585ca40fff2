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
#             harness's cost. "script-mt" sends it from as many client threads as connections
#             (redis-benchmark --threads N -c N), one connection per thread as orbit-bench has: on
#             2 cores, 8 client threads and the single-threaded server share the CPU, which one
#             event-loop client thread (the "script" row) leaves to the server.
#   etcd      orbit-bench (gRPC v3: Range of one key, linearizable; Put)  vs  etcdctl, the only etcd
#             tool Debian ships (etcd's own `benchmark` is not packaged): a loop of `etcdctl get` /
#             `etcdctl put` on the same keys (ETCD_LOOP_OPS of them, one process and one connection
#             per operation, at 1 client and 8 loops in parallel) — an upper bound on the tool's cost,
#             not a like-for-like client — and `etcdctl check perf --load=s` (50 clients at a fixed
#             rate: its throughput is the rate it was asked for, printed for the record only).
#
# postgres and redis run REPEATS rounds (orbit-bench's runs and the tool's back to back, the order
# alternating between rounds); etcd runs one. Printed per row: the durability mode, the medians over
# the rounds of orbit-bench's and the tool's per-operation time (µs; at 1 client) and throughput
# (ops/s; at 8 clients), the median of the per-round ratios, and those ratios. Targets (issue 17):
# per-op time <= 1.10x the tool's at 1 client, throughput >= 0.9x at 8 clients.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-100000}
OPS=${OPS:-100000}
REPEATS=${REPEATS:-3}                 # rounds per backend (postgres, redis): medians are printed
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

# Each figure of a round is stored as V[side,op,threads,round] = "micros_per_op ops_per_s".
declare -A V

# med "x y z" -> the median (the middle one; the mean of the two middle ones for an even count)
med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# row BACKEND OP TOOLOP: medians over the rounds of orbit-bench's OP and the tool's TOOLOP, and the
# median of the per-round ratios (each round's pair ran back to back).
row() {
  local us_o="" us_t="" ops_o="" ops_t="" r1="" r8="" r a b
  for r in $(seq "$REPEATS"); do
    read -r a _ <<<"${V[orbit,$2,1,$r]}"; read -r b _ <<<"${V[tool,$3,1,$r]}"
    us_o+=" $a"; us_t+=" $b"; r1+=" $(awk -v a="$a" -v b="$b" 'BEGIN { print a / b }')"
    read -r _ a <<<"${V[orbit,$2,8,$r]}"; read -r _ b <<<"${V[tool,$3,8,$r]}"
    ops_o+=" $a"; ops_t+=" $b"; r8+=" $(awk -v a="$a" -v b="$b" 'BEGIN { print a / b }')"
  done
  printf "%-9s %-9s %-12s %11.1f %11.1f %7.2fx %12.0f %12.0f %7.2fx   [%s ] [%s ]\n" "$1" "$3" "$DURABILITY" \
    "$(med "$us_o")" "$(med "$us_t")" "$(med "$r1")" "$(med "$ops_o")" "$(med "$ops_t")" "$(med "$r8")" \
    "$(printf ' %.2f' $r1)" "$(printf ' %.2f' $r8)"
}

header() {
  printf "\n%-9s %-9s %-12s %11s %11s %8s %12s %12s %8s   %s\n" backend op durability "orbit_us@1" "tool_us@1" "ratio" \
    "orbit_ops@8" "tool_ops@8" "ratio" "per-round ratios @1, @8"
}

results=()

# A round of a backend: orbit-bench's runs and the tool's, in turn; odd rounds start with orbit-bench,
# even rounds with the tool, so a drift of the machine's load falls on both sides alike.
rounds() {  # rounds BACKEND
  local r
  for r in $(seq "$REPEATS"); do
    if [ $((r % 2)) = 1 ]; then "$1_orbit" "$r"; "$1_tool" "$r"; else "$1_tool" "$r"; "$1_orbit" "$r"; fi
    echo "  $1 round $r of $REPEATS done (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
  done
}

if [[ " $BACKENDS " == *" postgres "* ]]; then
  "$bin" load "$get_w" --backend postgres --data-dir "$WORK/data" --fresh --set durability="$DURABILITY" --quiet >/dev/null
  pg_bin=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  as_pg=()
  if [ "$(id -u)" = 0 ]; then as_pg=(unshare --user --map-user="$(id -u postgres)" --map-group="$(id -g postgres)"); fi
  sc=off; [ "$DURABILITY" = every-write ] && sc=on
  printf '\\set k random(0, %d)\nSELECT value FROM orbit_kv WHERE key = lpad(:k::text, 16, %s)::bytea;\n' $((RECORDS - 1)) "'0'" > "$WORK/get.sql"
  printf '\\set k random(0, %d)\nUPDATE orbit_kv SET value = repeat(%s, 100)::bytea WHERE key = lpad(:k::text, 16, %s)::bytea;\n' \
    $((RECORDS - 1)) "'u'" "'0'" > "$WORK/update.sql"
  printf '\\set k random(0, %d)\nINSERT INTO orbit_kv (key, value) VALUES (lpad(:k::text, 16, %s)::bytea, repeat(%s, 100)::bytea) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;\n' \
    $((RECORDS - 1)) "'0'" "'u'" > "$WORK/upsert.sql"
  postgres_orbit() { local t op; for t in 1 8; do for op in get update; do V[orbit,$op,$t,$1]=$(orbit $op $t postgres); done; done; }
  postgres_tool() {
    local port t op
    port=$(free_port)
    "${as_pg[@]}" "$pg_bin/postgres" -D "$WORK/data/postgres/server" -p "$port" -c listen_addresses=127.0.0.1 \
      -c unix_socket_directories= -c max_connections=200 -c shared_buffers=128MB -c fsync=on -c synchronous_commit=$sc \
      >> "$WORK/pg-native.log" 2>&1 &
    pg_pid=$!
    trap 'kill -INT $pg_pid 2>/dev/null || true' EXIT
    for _ in $(seq 300); do "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
    for t in 1 8; do for op in get update upsert; do
      V[tool,$op,$t,$1]=$("$pg_bin/pgbench" -h 127.0.0.1 -p "$port" -U orbit -n -M prepared -f "$WORK/$op.sql" -c $t -j $t \
        -t $((OPS / t)) postgres 2>/dev/null | awk '/latency average/ { us = $4 * 1000 } /^tps/ { tps = $3 } END { print us, tps }')
    done; done
    kill -INT $pg_pid; wait $pg_pid || true; trap - EXIT
  }
  rounds postgres
  results+=("$(row postgres get get)" "$(row postgres update update)" "$(row postgres update upsert)")
fi

if [[ " $BACKENDS " == *" redis "* ]]; then
  "$bin" load "$get_w" --backend redis --data-dir "$WORK/data" --fresh --set durability="$DURABILITY" --quiet >/dev/null
  # The engine's put script, as the engine loads it (the first Swift multi-line literal of RedisScripts.all).
  put_script=$(python3 - <<'PY'
import textwrap
s = open("Sources/RedisEngine/RedisScripts.swift").read()
body = s[s.index('// put(key, value)'):]
body = body[body.index('"""') + 3:]
print(textwrap.dedent(body[:body.index('"""')]).strip())
PY
)
  value=$(printf 'u%.0s' $(seq 100))
  redis_orbit() { local t op; for t in 1 8; do for op in get update; do V[orbit,$op,$t,$1]=$(orbit $op $t redis); done; done; }
  redis_tool() {
    local port t csv sha
    port=$(free_port)
    redis-server "$WORK/data/redis/redis.conf" --port "$port" >> "$WORK/redis-native.log" 2>&1 &
    r_pid=$!
    trap 'kill $r_pid 2>/dev/null || true' EXIT
    for _ in $(seq 300); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
    sha=$(redis-cli -p "$port" SCRIPT LOAD "$put_script")
    for t in 1 8; do
      # "test","rps","avg_latency_ms",...: SET runs before GET (redis-benchmark's order).
      csv=$(redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -P 1 -c $t -n "$OPS" -r "$RECORDS" -d 100 --csv 2>/dev/null)
      V[tool,update,$t,$1]=$(echo "$csv" | awk -F'"' '$2 == "SET" { print $6 * 1000, $4 }')
      V[tool,get,$t,$1]=$(echo "$csv" | awk -F'"' '$2 == "GET" { print $6 * 1000, $4 }')
      # The same put as orbit-bench's, on the loaded keys (__rand_int__ is 12 digits: 0000 + 12 = 16 bytes).
      csv=$(redis-benchmark -h 127.0.0.1 -p "$port" -P 1 -c $t -n "$OPS" -r "$RECORDS" --csv \
        EVALSHA "$sha" 3 orbit:data orbit:index orbit:meta "0000__rand_int__" "$value" 2>/dev/null)
      V[tool,script,$t,$1]=$(echo "$csv" | awk -F'"' 'NR > 1 && $4 != "" { print $6 * 1000, $4 }' | tail -1)
      # The same script from N client threads with one connection each (--threads): orbit-bench's shape.
      csv=$(redis-benchmark -h 127.0.0.1 -p "$port" -P 1 -c $t --threads $t -n "$OPS" -r "$RECORDS" --csv \
        EVALSHA "$sha" 3 orbit:data orbit:index orbit:meta "0000__rand_int__" "$value" 2>/dev/null)
      V[tool,script-mt,$t,$1]=$(echo "$csv" | awk -F'"' 'NR > 1 && $4 != "" { print $6 * 1000, $4 }' | tail -1)
    done
    kill $r_pid; wait $r_pid || true; trap - EXIT
  }
  rounds redis
  results+=("$(row redis get get)" "$(row redis update update)" "$(row redis update script)" "$(row redis update script-mt)")
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
  for op in get update; do for t in 1 8; do V[orbit,$op,$t,1]=${o[$op$t]}; V[tool,$op,$t,1]=${n[$op$t]}; done; done
  for op in get update; do results+=("$(REPEATS=1 row etcd $op $op)"); done  # one round: the loop is slow
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
