#!/usr/bin/env bash
# The hand-written copy-on-write B+tree (`cow`, WAL mode) against LMDB (`lmdb`): same work, same
# machine, REPEATS interleaved pairs (cow then lmdb, then lmdb then cow, ...), one orbit-bench run per
# backend and benchmark; prints each figure's median, the per-pair ratios and their median, with the
# durability mode beside every figure.
#
#   readrandom   NUM keys loaded in random order, then NUM uniform point reads (16 B keys, 100 B values)
#   fillrandom   the load phase of readrandom                      (durability none: no sync)
#   fillseq      NUM keys loaded in key order                       (durability none: no sync)
#   scan100      100-entry range scans from uniform start keys over a NUM-key store
#   sync-write   durability every-write: 1 thread of updates, each acknowledged after its sync, against
#                the fdatasync latency this script measures on the same disk right after each pair: the
#                probe appends 4 KiB and fdatasyncs, 200 times (dd oflag=dsync). An in-place probe (the
#                same writes over an already written, synced file) is printed beside it for reference.
#                A shared disk's sync latency drifts within seconds, so each repeat runs SYNC_ROUNDS
#                short cow/lmdb/probe rounds back to back, and every round is one pair.
#
# Targets (issue 4): readrandom cow >= 0.8x lmdb ops/s and cow p50 < 2 us; fillrandom, fillseq >= 1.0x;
# sync-write cow p50 <= 1.25x the append probe and >= 4x faster than lmdb's synced commit;
# scan100 >= 0.8x. Release build. Not a test: timing never gates CI.
#
# Environment: NUM (1000000), SCANS (100000), SYNC_RECORDS (500), SYNC_OPS (1000), SYNC_ROUNDS (3), REPEATS (3),
# BENCHES (a subset of "readrandom fillseq scan100 syncwrite", all by default), WORK (work dir; results
# stay there), SCRATCH (build dir, .build).
set -euo pipefail
cd "$(dirname "$0")/.."
NUM=${NUM:-1000000}
SCANS=${SCANS:-100000}
SYNC_RECORDS=${SYNC_RECORDS:-500}
SYNC_OPS=${SYNC_OPS:-1000}
SYNC_ROUNDS=${SYNC_ROUNDS:-3}
BENCHES=${BENCHES:-readrandom fillseq scan100 syncwrite}
has() { case " $BENCHES " in *" $1 "*) return 0;; *) return 1;; esac; }
REPEATS=${REPEATS:-3}
WORK=${WORK:-$(mktemp -d /tmp/orbit-bench-cow.XXXXXX)}
SCRATCH=${SCRATCH:-.build}
mkdir -p "$WORK"
scripts/install-deps.sh >/dev/null
swift build -c release --product orbit-bench --scratch-path "$SCRATCH" >/dev/null
bin=$SCRATCH/release/orbit-bench

workload() {  # name backend durability load_order record_count operation_count mix [extra yaml]
  cat > "$WORK/$1-$2.yaml" <<YAML
name: cow-$1
description: bench-cow $1
backends: [$2]
durability: $3
record_count: $5
operation_count: $6
warmup_ops: 0
threads: 1
seed: 404
key_size: 16
value_size: 100
load_order: $4
key_distribution: uniform
metrics_sample_rate: 0
mix: $7
${8:-}
YAML
}

for be in cow lmdb; do
  workload readrandom "$be" none random "$NUM" "$NUM" "{read: 1.0}"
  workload fillseq "$be" none sequential "$NUM" 1000 "{read: 1.0}"
  workload scan100 "$be" none random "$NUM" "$SCANS" "{scan: 1.0}" "scan_length: {min: 100, max: 100}"
  workload syncwrite "$be" every-write random "$SYNC_RECORDS" "$SYNC_OPS" "{update: 1.0}"
done

run() {  # name backend tag -> summary.csv in $WORK/out-name-backend-tag
  local out="$WORK/out-$1-$2-$3" data="$WORK/data-$1-$2"
  rm -rf "$out" "$data"
  "$bin" run "$WORK/$1-$2.yaml" --quiet --out "$out" --data-dir "$data" > "$out.log" 2>&1 \
    || { cat "$out.log" >&2; exit 1; }
  rm -rf "$data"
}

# field NAME BACKEND TAG PHASE OPERATION COLUMN from summary.csv (7 = ops_per_s, 9 = p50_us)
field() { awk -F, -v b="$2" -v p="$4" -v o="$5" -v c="$6" '$1==b && $15==p && $4==o {print $c}' "$WORK/out-$1-$2-$3/summary.csv"; }

# The disk's fdatasync latency, µs per write: 200 appends of 4 KiB, each synced (O_DSYNC), and the same
# 200 writes over a file already written and synced (no size or extent change to sync).
probe() {
  local f="$WORK/probe.bin" t0 t1
  rm -f "$f"
  t0=$(date +%s%N); dd if=/dev/zero of="$f" bs=4096 count=200 oflag=dsync 2>/dev/null; t1=$(date +%s%N)
  echo "$t0 $t1" | awk '{printf "%.1f", ($2 - $1) / 1000 / 200}' > "$WORK/probe-append-$1"
  sync "$f" 2>/dev/null || sync
  t0=$(date +%s%N); dd if=/dev/zero of="$f" bs=4096 count=200 oflag=dsync conv=notrunc 2>/dev/null; t1=$(date +%s%N)
  echo "$t0 $t1" | awk '{printf "%.1f", ($2 - $1) / 1000 / 200}' > "$WORK/probe-inplace-$1"
  rm -f "$f"
}

echo "bench-cow: $REPEATS interleaved pairs, work dir $WORK, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$REPEATS"); do
  if [ $((r % 2)) -eq 1 ]; then order="cow lmdb"; else order="lmdb cow"; fi
  for b in readrandom fillseq scan100; do
    has "$b" || continue
    for be in $order; do echo "pair $r/$REPEATS: $b $be ..." >&2; run "$b" "$be" "$r"; done
  done
  has syncwrite || continue
  for k in $(seq 1 "$SYNC_ROUNDS"); do
    if [ $(((r + k) % 2)) -eq 0 ]; then sorder="cow lmdb"; else sorder="lmdb cow"; fi
    for be in $sorder; do echo "pair $r/$REPEATS: syncwrite round $k $be ..." >&2; run syncwrite "$be" "$r-$k"; done
    probe "$r-$k"
  done
done
SYNC_TAGS=$(for r in $(seq 1 "$REPEATS"); do for k in $(seq 1 "$SYNC_ROUNDS"); do printf '%s ' "$r-$k"; done; done)

# median of the numbers on stdin
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) {print "nan"; exit} if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# line LABEL DURABILITY NAME PHASE OPERATION COLUMN UNIT HIGHER_IS_BETTER TARGET [TAGS]
line() {
  local cows="" lmdbs="" ratios="" c m
  for r in ${10:-$(seq 1 "$REPEATS")}; do
    c=$(field "$3" cow "$r" "$4" "$5" "$6"); m=$(field "$3" lmdb "$r" "$4" "$5" "$6")
    cows="$cows $c"; lmdbs="$lmdbs $m"
    ratios="$ratios $(awk -v c="$c" -v m="$m" -v h="$8" 'BEGIN {printf "%.2f", (h == 1) ? c / m : m / c}')"
  done
  printf "%-15s %-12s %12s %12s %-6s %7sx  %-18s %s\n" "$1" "$2" \
    "$(echo $cows | tr ' ' '\n' | median)" "$(echo $lmdbs | tr ' ' '\n' | median)" "$7" \
    "$(echo $ratios | tr ' ' '\n' | median)" "$(echo $ratios | tr ' ' ',')" "$9"
}

echo
echo "cow (WAL mode) vs lmdb: $NUM keys, 16 B keys, 100 B values, 1 thread, $REPEATS interleaved pairs"
has syncwrite && echo "(sync-write: $((REPEATS * SYNC_ROUNDS)) rounds of $SYNC_OPS updates on $SYNC_RECORDS keys)"
echo "figures are medians; per pair: each pair's ratio"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); work dir $WORK"
printf "%-15s %-12s %12s %12s %-6s %8s  %-18s %s\n" benchmark durability cow lmdb unit ratio "per pair" target
if has readrandom; then
  line readrandom none readrandom run get 7 ops/s 1 "cow/lmdb >= 0.8"
  line "readrandom p50" none readrandom run get 9 us 0 "cow < 2 us"
  line fillrandom none readrandom load load 7 ops/s 1 "cow/lmdb >= 1.0"
fi
has fillseq && line fillseq none fillseq load load 7 ops/s 1 "cow/lmdb >= 1.0"
has scan100 && line "scan 100" none scan100 run range_query 7 ops/s 1 "cow/lmdb >= 0.8"
has readrandom && echo "readrandom p50 per pair (us): cow $(for r in $(seq 1 "$REPEATS"); do printf '%s ' "$(field readrandom cow "$r" run get 9)"; done)," \
  "lmdb $(for r in $(seq 1 "$REPEATS"); do printf '%s ' "$(field readrandom lmdb "$r" run get 9)"; done)"
has syncwrite || exit 0
line "sync-write p50" every-write syncwrite run update 9 us 0 "lmdb/cow >= 4" "$SYNC_TAGS"

cw=""; ratios=""; pa=""; pi=""
for r in $SYNC_TAGS; do
  c=$(field syncwrite cow "$r" run update 9); a=$(cat "$WORK/probe-append-$r"); i=$(cat "$WORK/probe-inplace-$r")
  cw="$cw $c"; pa="$pa $a"; pi="$pi $i"
  ratios="$ratios $(awk -v c="$c" -v a="$a" 'BEGIN {printf "%.2f", c / a}')"
done
printf "%-15s %-12s %12s %12s %-6s %7sx  %-18s %s\n" "sync-write p50" every-write \
  "$(echo $cw | tr ' ' '\n' | median)" "$(echo $pa | tr ' ' '\n' | median)" us \
  "$(echo $ratios | tr ' ' '\n' | median)" "$(echo $ratios | tr ' ' ',')" "cow/append-probe <= 1.25"
echo "fdatasync probes (median of $((REPEATS * SYNC_ROUNDS)) rounds, us per 4 KiB write): append $(echo $pa | tr ' ' '\n' | median) (per pair:$pa);" \
  "in place $(echo $pi | tr ' ' '\n' | median) (per pair:$pi)"
