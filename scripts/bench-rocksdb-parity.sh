#!/usr/bin/env bash
# orbit-bench's rocksdb path against RocksDB's own db_bench, same work, same machine, same run.
#
#   fill: 1,000,000 unique keys in random order (db_bench filluniquerandom; orbit-bench's load phase)
#   read: 1,000,000 uniformly random point reads of those keys (db_bench readrandom; a read-only run phase)
#   16-byte keys, 100-byte values, no compression, WAL on, no sync, one thread; identical RocksDB
#   options on both sides (256 MiB block cache, 64 MiB write buffer, 2 background jobs, 10 bloom bits,
#   statistics off).
#
# Both sides are measured as wall-clock time per operation (db_bench's micros/op is elapsed / ops;
# ours is 1e6 / ops_per_s of the phase), so the harness's own per-op cost is included on both sides.
# Repeats REPEATS times alternating the order, and prints medians and the ratio orbit-bench/db_bench.
# Target: ratio <= 1.10. Release build. Not a test: timing never gates CI.
set -euo pipefail
cd "$(dirname "$0")/.."
NUM=${NUM:-1000000}
REPEATS=${REPEATS:-3}
WORK=${WORK:-$(mktemp -d /tmp/orbit-parity.XXXXXX)}
scripts/install-deps.sh >/dev/null
swift build -c release --product orbit-bench >/dev/null
bin=.build/release/orbit-bench
command -v db_bench >/dev/null || { echo "db_bench not found (Debian package rocksdb-tools)" >&2; exit 2; }

cat > "$WORK/parity.yaml" <<YAML
name: rocksdb-parity
description: db_bench filluniquerandom + readrandom equivalent
backends: [rocksdb]
durability: none
record_count: $NUM
operation_count: $NUM
warmup_ops: 0
threads: 1
seed: 301
key_size: 16
value_size: 100
load_order: random
key_distribution: uniform
metrics_sample_rate: 0
mix: {read: 1.0}
config:
  rocksdb: {block_cache_mb: 256, write_buffer_mb: 64, max_background_jobs: 2, compression: false,
            bloom_bits_per_key: 10, wal: true, statistics: false}
YAML

run_dbbench() {
  rm -rf "$WORK/dbbench"
  db_bench --benchmarks=filluniquerandom,readrandom --num="$NUM" --reads="$NUM" --key_size=16 --value_size=100 \
    --compression_type=none --disable_wal=false --sync=false --threads=1 --cache_size=$((256 << 20)) \
    --bloom_bits=10 --write_buffer_size=$((64 << 20)) --max_background_jobs=2 --statistics=false \
    --seed=301 --db="$WORK/dbbench" 2>/dev/null > "$WORK/dbbench.out"
  local fill read
  fill=$(awk '/^filluniquerandom/ {print $3}' "$WORK/dbbench.out")
  read=$(awk '/^readrandom/ {print $3}' "$WORK/dbbench.out")
  echo "$fill $read"
}

run_orbit() {
  rm -rf "$WORK/orbit"
  "$bin" run "$WORK/parity.yaml" --quiet --out "$WORK/orbit" > "$WORK/orbit.out"
  awk -F, '$1=="rocksdb" && $15=="load" && $4=="load" {fill=1e6/$7; fs=$6}
           $1=="rocksdb" && $15=="run" && $4=="get" {read=1e6/$7; rs=$6}
           END {printf "%.3f %.3f %.3f %.3f\n", fill, read, fs, rs}' "$WORK/orbit/summary.csv"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

: > "$WORK/db.txt"; : > "$WORK/ob.txt"
for i in $(seq 1 "$REPEATS"); do
  if [ $((i % 2)) = 1 ]; then
    run_dbbench >> "$WORK/db.txt"; run_orbit >> "$WORK/ob.txt"
  else
    run_orbit >> "$WORK/ob.txt"; run_dbbench >> "$WORK/db.txt"
  fi
  echo "repeat $i: db_bench fill/read µs/op: $(tail -1 "$WORK/db.txt")   orbit-bench fill/read wall µs/op (service µs): $(tail -1 "$WORK/ob.txt")" >&2
done

db_fill=$(awk '{print $1}' "$WORK/db.txt" | median); db_read=$(awk '{print $2}' "$WORK/db.txt" | median)
ob_fill=$(awk '{print $1}' "$WORK/ob.txt" | median); ob_read=$(awk '{print $2}' "$WORK/ob.txt" | median)
ob_fill_svc=$(awk '{print $3}' "$WORK/ob.txt" | median); ob_read_svc=$(awk '{print $4}' "$WORK/ob.txt" | median)

# Per-repeat ratios (each pair ran back to back, so slow drift of the machine cancels out).
paste -d' ' "$WORK/db.txt" "$WORK/ob.txt" | awk '{print $3/$1, $4/$2}' > "$WORK/ratios.txt"
pair_fill=$(awk '{print $1}' "$WORK/ratios.txt" | median); pair_read=$(awk '{print $2}' "$WORK/ratios.txt" | median)

echo
echo "RocksDB parity: $NUM keys, 16 B keys, 100 B values, no compression, WAL on, no sync, 1 thread; medians of $REPEATS"
echo "rocksdb $(db_bench --version 2>/dev/null | head -1 || true)"
printf "%-12s %14s %18s %22s %8s %12s\n" "benchmark" "db_bench µs/op" "orbit-bench µs/op" "(orbit service µs/op)" "ratio" "pair ratio"
awk -v a="$db_fill" -v b="$ob_fill" -v s="$ob_fill_svc" -v p="$pair_fill" 'BEGIN {printf "%-12s %14.3f %18.3f %22.3f %8.3f %12.3f\n", "fillrandom", a, b, s, b/a, p}'
awk -v a="$db_read" -v b="$ob_read" -v s="$ob_read_svc" -v p="$pair_read" 'BEGIN {printf "%-12s %14.3f %18.3f %22.3f %8.3f %12.3f\n", "readrandom", a, b, s, b/a, p}'
echo "ratio = median orbit-bench / median db_bench; pair ratio = median of the per-repeat ratios."
echo "target: ratio <= 1.10 (orbit-bench / db_bench, wall µs/op). Work dir: $WORK"
