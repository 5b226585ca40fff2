#!/usr/bin/env bash
# The hand-written copy-on-write B+tree (`cow`, WAL mode) against LMDB (`lmdb`), same work, same
# machine, one orbit-bench run per benchmark with both backends side by side.
#
#   readrandom   NUM keys loaded in random order, then NUM uniform point reads (16 B keys, 100 B values)
#   fillrandom   the load phase of readrandom (no sync)
#   fillseq      NUM keys loaded in key order (no sync)
#   scan100      100-entry range scans from uniform start keys over the readrandom store size
#   sync-write   every-write durability: 1 thread of updates, each acknowledged after its sync;
#                compared with the fdatasync latency this script measures on the same disk (dd oflag=dsync)
#
# Targets (issue 4): readrandom cow >= 0.8x lmdb ops/s and cow p50 < 2 us; fillrandom, fillseq >= 1.0x;
# sync-write cow p50 <= 1.25x the fdatasync latency and >= 4x faster than lmdb's synced commit;
# scan100 >= 0.8x. Release build. Not a test: timing never gates CI.
set -euo pipefail
cd "$(dirname "$0")/.."
NUM=${NUM:-1000000}
SCANS=${SCANS:-100000}
SYNC_OPS=${SYNC_OPS:-3000}
WORK=${WORK:-$(mktemp -d /tmp/orbit-bench-cow.XXXXXX)}
SCRATCH=${SCRATCH:-.build}
scripts/install-deps.sh >/dev/null
swift build -c release --product orbit-bench --scratch-path "$SCRATCH" >/dev/null
bin=$SCRATCH/release/orbit-bench

workload() {  # name durability load_order record_count operation_count mix [extra yaml]
  cat > "$WORK/$1.yaml" <<YAML
name: cow-$1
description: bench-cow $1
backends: [cow, lmdb]
durability: $2
record_count: $4
operation_count: $5
warmup_ops: 0
threads: 1
seed: 404
key_size: 16
value_size: 100
load_order: $3
key_distribution: uniform
metrics_sample_rate: 0
mix: $6
${7:-}
YAML
}

workload readrandom none random "$NUM" "$NUM" "{read: 1.0}"
workload fillseq none sequential "$NUM" 1000 "{read: 1.0}"
workload scan100 none random "$NUM" "$SCANS" "{scan: 1.0}" "scan_length: 100"
workload syncwrite every-write random 10000 "$SYNC_OPS" "{update: 1.0}"

run() {  # name -> results dir
  rm -rf "$WORK/out-$1" "$WORK/data-$1"
  "$bin" run "$WORK/$1.yaml" --quiet --out "$WORK/out-$1" --data-dir "$WORK/data-$1" > "$WORK/$1.log" 2>&1 \
    || { cat "$WORK/$1.log" >&2; exit 1; }
  rm -rf "$WORK/data-$1"
}

# field BACKEND PHASE OPERATION COLUMN from summary.csv (7 = ops_per_s, 9 = p50_us)
field() { awk -F, -v b="$2" -v p="$3" -v o="$4" -v c="$5" '$1==b && $15==p && $4==o {print $c}' "$WORK/out-$1/summary.csv"; }

for b in readrandom fillseq scan100 syncwrite; do echo "running $b ..." >&2; run "$b"; done

# fdatasync latency of this disk: small appends, each synced (dd oflag=dsync), µs per write.
t0=$(date +%s%N)
dd if=/dev/zero of="$WORK/dsync.bin" bs=512 count=2000 oflag=dsync 2>/dev/null
t1=$(date +%s%N)
dd_us=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1000 / 2000}')
rm -f "$WORK/dsync.bin"

row() {  # label cow lmdb unit higher_is_better target
  awk -v l="$1" -v c="$2" -v m="$3" -v u="$4" -v h="$5" -v t="$6" 'BEGIN {
    r = (h == "1") ? c / m : m / c
    printf "%-22s %14s %14s %-8s %8.2fx   %s\n", l, c, m, u, r, t }'
}

echo
echo "cow (WAL mode) vs lmdb: $NUM keys, 16 B keys, 100 B values, 1 thread; work dir $WORK"
printf "%-22s %14s %14s %-8s %9s   %s\n" "benchmark" "cow" "lmdb" "unit" "cow/lmdb" "target"
row "readrandom" "$(field readrandom cow run get 7)" "$(field readrandom lmdb run get 7)" "ops/s" 1 ">= 0.8x"
echo "readrandom p50: cow $(field readrandom cow run get 9) us, lmdb $(field readrandom lmdb run get 9) us (target: cow < 2 us)"
row "fillrandom (no sync)" "$(field readrandom cow load load 7)" "$(field readrandom lmdb load load 7)" "ops/s" 1 ">= 1.0x"
row "fillseq (no sync)" "$(field fillseq cow load load 7)" "$(field fillseq lmdb load load 7)" "ops/s" 1 ">= 1.0x"
row "scan 100 keys" "$(field scan100 cow run range_query 7)" "$(field scan100 lmdb run range_query 7)" "ops/s" 1 ">= 0.8x"
cw=$(field syncwrite cow run update 9); lw=$(field syncwrite lmdb run update 9)
row "every-write p50" "$cw" "$lw" "us" 0 ">= 4x faster (lmdb/cow)"
awk -v c="$cw" -v d="$dd_us" 'BEGIN {printf "every-write p50: cow %s us vs fdatasync %s us (dd oflag=dsync, 512 B appends): %.2fx (target <= 1.25x)\n", c, d, c / d}'
