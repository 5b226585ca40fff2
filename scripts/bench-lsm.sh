#!/usr/bin/env bash
# The lsm engine against rocksdb through orbit-bench: same work, same machine, one run each, ratios
# printed (issue 3). Release build. Not a test: timing never gates CI.
#
#   fillrandom  NUM keys (default 1,000,000), 16 B keys, 100 B values, WAL on, no sync: lsm/rocksdb ops/s (target >= 1.0)
#   readrandom  NUM uniform point reads of that data: lsm/rocksdb ops/s (target >= 0.8)
#   scan100     100-entry range scans from uniform random starts: lsm/rocksdb ops/s (target >= 0.8)
#   every-write p50 put latency of lsm / fdatasync latency of a 4 KiB append probe on the same disk (target <= 1.25)
#   group       lsm group commit with 2 writers / lsm every-write with 1 writer, ops/s (target >= 1.6)
#   BIG=1       also fills 20,000,000 keys into lsm and prints throughput of the first and the last million
#
# Environment: NUM, WORK (work dir), BIG.
set -euo pipefail
cd "$(dirname "$0")/.."
NUM=${NUM:-1000000}
WORK=${WORK:-$(mktemp -d /tmp/orbit-bench-lsm.XXXXXX)}
mkdir -p "$WORK"
scripts/install-deps.sh >/dev/null
swift build -c release --product orbit-bench >/dev/null
bin=$PWD/.build/release/orbit-bench

workload() {  # name backends durability threads records ops mix [extra yaml]
  cat > "$WORK/$1.yaml" <<YAML
name: $1
backends: [$2]
durability: $3
threads: $4
record_count: $5
operation_count: $6
warmup_ops: 0
seed: 303
key_size: 16
value_size: 100
load_order: random
key_distribution: uniform
metrics_sample_rate: 0
mix: {$7}
${8:-}
config:
  rocksdb: {block_cache_mb: 256, write_buffer_mb: 64, compression: false, bloom_bits_per_key: 10, wal: true}
  lsm: {block_cache_mb: 256, memtable_size_mb: 64, enable_compression: false, bloom_filter_bits_per_key: 10}
YAML
}

run() {  # name -> summary.csv path
  rm -rf "$WORK/out-$1"
  "$bin" run "$WORK/$1.yaml" --quiet --out "$WORK/out-$1" > "$WORK/$1.log" 2>&1 || { cat "$WORK/$1.log" >&2; exit 1; }
  echo "$WORK/out-$1/summary.csv"
}

# field: backend phase operation column(7 = ops_per_s, 9 = p50_us)
field() { awk -F, -v b="$2" -v ph="$3" -v op="$4" -v c="$5" '$1==b && $15==ph && $4==op {print $c}' "$1"; }

workload fillread "lsm, rocksdb" none 1 "$NUM" "$NUM" "read: 1.0"
s=$(run fillread)
lf=$(field "$s" lsm load load 7); rf=$(field "$s" rocksdb load load 7)
lr=$(field "$s" lsm run get 7); rr=$(field "$s" rocksdb run get 7)

workload scan "lsm, rocksdb" none 1 "$NUM" $((NUM / 20)) "scan: 1.0" "scan_length: {min: 100, max: 100}"
s=$(run scan)
ls=$(field "$s" lsm run range_query 7); rs=$(field "$s" rocksdb run range_query 7)

# fdatasync probe: append 4 KiB and sync, 500 times, on the disk of the work dir.
probe_us=$(dd if=/dev/zero of="$WORK/probe" bs=4096 count=500 oflag=dsync 2>&1 | awk '/copied/ {for (i=1;i<=NF;i++) if ($i ~ /^s,?$/) t=$(i-1); print t * 1e6 / 500}')
workload every lsm every-write 1 1000 2000 "update: 1.0"
s=$(run every)
ep50=$(field "$s" lsm run update 9); eops=$(field "$s" lsm run update 7)
workload group lsm group 2 1000 4000 "update: 1.0"
s=$(run group)
gops=$(field "$s" lsm run update 7)

echo
echo "lsm vs rocksdb: $NUM keys, 16 B keys, 100 B values, no compression, WAL on; work dir $WORK"
printf "%-34s %14s %14s %8s %8s\n" benchmark lsm rocksdb ratio target
awk -v a="$lf" -v b="$rf" 'BEGIN {printf "%-34s %14.0f %14.0f %8.3f %8s\n", "fillrandom ops/s (no sync)", a, b, a/b, ">=1.0"}'
awk -v a="$lr" -v b="$rr" 'BEGIN {printf "%-34s %14.0f %14.0f %8.3f %8s\n", "readrandom ops/s", a, b, a/b, ">=0.8"}'
awk -v a="$ls" -v b="$rs" 'BEGIN {printf "%-34s %14.0f %14.0f %8.3f %8s\n", "scan 100 ops/s", a, b, a/b, ">=0.8"}'
awk -v a="$ep50" -v b="$probe_us" 'BEGIN {printf "%-34s %14.1f %14.1f %8.3f %8s\n", "every-write p50 us (vs fdatasync)", a, b, a/b, "<=1.25"}'
awk -v a="$gops" -v b="$eops" 'BEGIN {printf "%-34s %14.0f %14.0f %8.3f %8s\n", "group 2 writers / every-write 1", a, b, a/b, ">=1.6"}'

if [ "${BIG:-0}" = 1 ]; then
  workload big lsm none 1 20000000 1000 "read: 1.0"
  s=$(run big)
  echo "20M fill: lsm load ops/s $(field "$s" lsm load load 7); timeseries in $WORK/out-big/timeseries.csv"
fi
