#!/usr/bin/env bash
# Encryption at rest (encryption_key_path, docs/formats/encryption.md): the cost of the encrypting
# file layer for the hand-written engines. For lsm and cow, REPEATS interleaved pairs (plain then
# encrypted, then encrypted then plain, ...), one orbit-bench run each:
#
#   fillrandom   NUM keys loaded in random order (16 B keys, 100 B values, durability none)
#   readrandom   then NUM uniform point reads of that store
#
# and prints each figure's median, the per-pair ratios encrypted ÷ plain and their median.
# Target (issue 20 item 3): fillrandom and readrandom encrypted ÷ plain >= 0.7 for both engines.
# Release build (--scratch-path .build-release). Not a test: timing never gates CI.
#
# Environment: NUM (500000), REPEATS (3), ENGINES ("lsm cow"), WORK (work dir; results stay there),
# SCRATCH (build dir, .build-release).
set -euo pipefail
cd "$(dirname "$0")/.."
NUM=${NUM:-500000}
REPEATS=${REPEATS:-3}
ENGINES=${ENGINES:-lsm cow}
WORK=${WORK:-$(mktemp -d /tmp/orbit-bench-encryption.XXXXXX)}
SCRATCH=${SCRATCH:-.build-release}
mkdir -p "$WORK"
swift build -c release --product orbit-bench --scratch-path "$SCRATCH" >/dev/null
bin=$SCRATCH/release/orbit-bench

key="$WORK/key"
head -c 32 /dev/urandom > "$key"
chmod 600 "$key"

for be in $ENGINES; do
  cat > "$WORK/readrandom-$be.yaml" <<YAML
name: encryption-readrandom
description: bench-encryption readrandom
backends: [$be]
durability: none
record_count: $NUM
operation_count: $NUM
warmup_ops: 0
threads: 1
seed: 2020
key_size: 16
value_size: 100
load_order: random
key_distribution: uniform
metrics_sample_rate: 0
mix: {read: 1.0}
YAML
done

run() {  # backend mode(plain|encrypted) tag -> summary.csv in $WORK/out-backend-mode-tag
  local out="$WORK/out-$1-$2-$3" data="$WORK/data-$1-$2"
  local extra=()
  [ "$2" = encrypted ] && extra=(--encryption-key-path "$key")
  rm -rf "$out" "$data"
  "$bin" run "$WORK/readrandom-$1.yaml" --quiet --out "$out" --data-dir "$data" "${extra[@]}" > "$out.log" 2>&1 \
    || { cat "$out.log" >&2; exit 1; }
  rm -rf "$data"
}

# field BACKEND MODE TAG PHASE OPERATION COLUMN from summary.csv (7 = ops_per_s)
field() { awk -F, -v b="$1" -v p="$4" -v o="$5" -v c="$6" '$1==b && $15==p && $4==o {print $c}' "$WORK/out-$1-$2-$3/summary.csv"; }

echo "bench-encryption: $REPEATS interleaved pairs per engine, work dir $WORK, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$REPEATS"); do
  if [ $((r % 2)) -eq 1 ]; then order="plain encrypted"; else order="encrypted plain"; fi
  for be in $ENGINES; do
    for m in $order; do echo "pair $r/$REPEATS: $be $m ..." >&2; run "$be" "$m" "$r"; done
  done
done

median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) {print "nan"; exit} if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# line ENGINE LABEL PHASE OPERATION
line() {
  local ps="" es="" ratios="" p e
  for r in $(seq 1 "$REPEATS"); do
    p=$(field "$1" plain "$r" "$3" "$4" 7); e=$(field "$1" encrypted "$r" "$3" "$4" 7)
    ps="$ps $p"; es="$es $e"
    ratios="$ratios $(awk -v p="$p" -v e="$e" 'BEGIN {printf "%.2f", e / p}')"
  done
  printf "%-6s %-11s %12s %12s %7sx  %-18s %s\n" "$1" "$2" "$(echo $ps | tr ' ' '\n' | median)" \
    "$(echo $es | tr ' ' '\n' | median)" "$(echo $ratios | tr ' ' '\n' | median)" "$(echo $ratios | tr ' ' ',')" "encrypted/plain >= 0.7"
}

echo
echo "encryption at rest: encrypted ÷ plain, $NUM keys, 16 B keys, 100 B values, 1 thread, durability none, $REPEATS interleaved pairs"
echo "figures are ops/s medians; per pair: each pair's ratio; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-6s %-11s %12s %12s %8s  %-18s %s\n" engine benchmark plain encrypted ratio "per pair" target
for be in $ENGINES; do
  line "$be" fillrandom load load
  line "$be" readrandom run get
done
