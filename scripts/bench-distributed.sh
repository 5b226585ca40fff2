#!/usr/bin/env bash
# The replicated forms of the server backends against their single-node forms, measured in the same
# run (release build; not a test: timing never gates CI). Issue 18's acceptance table.
#
#   postgres   one server                          vs  postgres.standby=sync (a synchronous streaming
#                                                       standby: every commit waits for its WAL flush)
#   etcd       etcd.members=1                      vs  etcd.members=3 (raft: a write commits on a quorum)
#   s3         SeaweedFS, one volume server, no     vs  three volume servers, replication 001 (each
#              replication (s3.replication=000)         object written to two of them)
#
# Every form: RECORDS records (16-byte keys, VALUE-byte values) loaded fresh, then a read-only and
# an update-only run of SECONDS seconds each (after WARMUP seconds), at 1 and 8 client threads,
# uniform keys, durability every-write (a write acknowledged only once the server made it durable:
# the only mode in which the replicated forms replicate before acknowledging). The forms of one
# backend run back to back, interleaved per client count, on one machine: what is compared is the
# cost of replication on loopback (no network latency), not a deployment's.
#
# Printed per row: backend, form, op, threads, ops/s, p50 and p99 (µs), errors and not-found counts,
# and the replicated form's p50 and p99 as a ratio of the single form's.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-10000}
VALUE=${VALUE:-100}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
WARMUP=${WARMUP:-2}
BACKENDS=${BACKENDS:-"postgres etcd s3"}
THREADS=${THREADS:-"1 8"}
WORK=${WORK:-$(mktemp -d /tmp/orbit-bench-distributed.XXXXXX)}
# SCRATCH: the build directory (a second one, e.g. .build-release, lets a debug build go on beside it).
SCRATCH=${SCRATCH:-.build}
swift build -c release --product orbit-bench --scratch-path "$SCRATCH" >/dev/null
bin=$SCRATCH/release/orbit-bench
echo "work directory: $WORK  records: $RECORDS  value: $VALUE B  run: ${SECONDS_PER_RUN} s after ${WARMUP} s warm-up  durability: every-write"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)"

workload() {  # workload NAME MIX -> path
  cat > "$WORK/$1.yaml" <<YAML
name: bench-distributed-$1
record_count: $RECORDS
key_size: 16
value_size: $VALUE
key_distribution: uniform
duration_s: $SECONDS_PER_RUN
warmup_s: $WARMUP
load: false
metrics_sample_rate: 0
durability: every-write
mix: {$2: 1}
YAML
  echo "$WORK/$1.yaml"
}
read_w=$(workload read read)
update_w=$(workload update update)

forms() {  # forms BACKEND -> lines "NAME FLAGS..."
  case $1 in
    postgres) echo "single --set postgres.exact_stats=false"; echo "standby-sync --set postgres.exact_stats=false --set postgres.standby=sync";;
    etcd) echo "members-1 --set etcd.exact_stats=false --set etcd.members=1"; echo "members-3 --set etcd.exact_stats=false --set etcd.members=3";;
    s3) echo "1-volume --set s3.volume_servers=1 --set s3.replication=000"; echo "3-volumes-001 --set s3.volume_servers=3 --set s3.replication=001";;
    *) echo "bench-distributed.sh: unknown backend '$1' (postgres, etcd, s3)" >&2; exit 2;;
  esac
}

declare -A row
printf "\n%-9s %-14s %-7s %7s %10s %10s %10s %7s %9s %8s %8s\n" backend form op threads ops_s p50_us p99_us errors not_found p50_x p99_x
for b in $BACKENDS; do
  mapfile -t fs < <(forms "$b")
  for f in "${fs[@]}"; do
    read -r name flags <<<"$f"
    # shellcheck disable=SC2086
    "$bin" load "$read_w" --backend "$b" --data-dir "$WORK/data-$b-$name" --fresh $flags --quiet >/dev/null
  done
  for t in $THREADS; do
    for op in read update; do
      w=$read_w; [ $op = update ] && w=$update_w
      base=""
      for f in "${fs[@]}"; do
        read -r name flags <<<"$f"
        out="$WORK/out-$b-$name-$op-$t"
        rm -rf "$out"
        # shellcheck disable=SC2086
        "$bin" run "$w" --backend "$b" --data-dir "$WORK/data-$b-$name" --reuse $flags --set threads="$t" --out "$out" --quiet >/dev/null
        o=$op; [ $op = read ] && o=get
        line=$(awk -F, -v op="$o" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
               $c["phase"] == "run" && $c["operation"] == op { print $c["ops_per_s"], $c["p50_us"], $c["p99_us"], $c["errors"], $c["not_found"] }' "$out/summary.csv")
        read -r ops p50 p99 errs nf <<<"$line"
        if [ -z "$base" ]; then base="$p50 $p99"; rx="-"; ry="-"
        else read -r b50 b99 <<<"$base"; rx=$(awk -v a="$p50" -v b="$b50" 'BEGIN { printf "%.2fx", a / b }'); ry=$(awk -v a="$p99" -v b="$b99" 'BEGIN { printf "%.2fx", a / b }'); fi
        printf "%-9s %-14s %-7s %7s %10.0f %10.1f %10.1f %7s %9s %8s %8s\n" "$b" "$name" "$op" "$t" "$ops" "$p50" "$p99" "$errs" "$nf" "$rx" "$ry"
      done
    done
  done
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "p50_x, p99_x: the replicated form's latency over the single form's (same backend, op and threads)"
