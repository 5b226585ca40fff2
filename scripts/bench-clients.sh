#!/usr/bin/env bash
# The floor and the harness's own cost, measured side by side in one run (release build), against
# issue 19's targets:
#
#   readrandom: YCSB workload C (reads only) with uniform keys and db_bench's default record (one
#               100-byte field: fieldcount=1, fieldlength=100) on `memory`, 1 client thread: ns per
#               operation through the whole loop (op stream, key formatting, engine call, metering),
#               from wall time (1 / ops/s) and from CPU time (the CPU seconds of a run of OPS reads
#               minus those of a run of OPS/4, over the 3/4 OPS reads between: load and start-up
#               cancel). Target <= 400 ns/op. On a loaded machine the CPU figure is the one to read.
#   scaling:    the same reads on 2 threads: ops/s 2 threads / 1 thread. Target >= 1.8 on 2 cores.
#   read-heavy: YCSB workload B (95% reads, 5% updates, zipfian) on 1 and 2 threads: ops/s scaling
#               (target >= 1.8) and get p50 at 2 threads / at 1 (target <= 1.2: readers never wait
#               for a writer).
#   metering:   readrandom on 1 thread with metering on and off (metering=false: the op stream, key
#               formatting and engine call only): the difference in ns per operation from the
#               process's CPU time (user + sys; the load phase is the same in both and cancels out),
#               and from wall time. CPU time is the robust figure on a shared machine: time spent
#               descheduled does not count. Target < 50 ns/op.
#
# ops/s is the run phase's operations / its wall time. The variants are interleaved so machine noise
# hits them alike; each figure is printed as the median and the best of REPEATS runs (on a shared
# machine the best run is the one least disturbed by other load). Not a test: timing never gates CI.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-100000}
OPS=${OPS:-4000000}
REPEATS=${REPEATS:-5}
WORK=${WORK:-$(mktemp -d /tmp/orbit-clients.XXXXXX)}
# SCRATCH: the release build's scratch path (default .build); BIN: a binary to measure instead of building.
SCRATCH=${SCRATCH:-.build}
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  swift build -c release --product orbit-bench --scratch-path "$SCRATCH" >/dev/null
  bin=$SCRATCH/release/orbit-bench
fi

# run NAME WORKLOAD DISTRIBUTION THREADS METERING [OPERATIONS] -> appends the run phase's ops/s (all operation
# types) to $WORK/NAME, its get p50 (µs) to $WORK/NAME.p50 and the process's CPU seconds
# (user + sys) to $WORK/NAME.cpu
run() {
  local out="$WORK/out-$1" TIMEFORMAT='%3U %3S'
  rm -rf "$out"
  { time "$bin" run "workloads/ycsb/$2" --backend memory --quiet --out "$out" \
      -p recordcount="$RECORDS" -p operationcount="${6:-$OPS}" -p threadcount="$4" -p requestdistribution="$3" \
      -p metering="$5" -p metrics_sample_rate=0 $FIELDS >/dev/null; } 2> "$out.time"
  awk '{ print $1 + $2 }' "$out.time" >> "$WORK/$1.cpu"
  awk -F, 'NR > 1 && $15 == "run" { s += $7 } END { print s }' "$out/summary.csv" >> "$WORK/$1"
  awk -F, 'NR > 1 && $15 == "run" && $4 == "get" { print $9 }' "$out/summary.csv" >> "$WORK/$1.p50"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
best() { sort -g | tail -1; }
low() { sort -g | head -1; }

variants="r1 q1 r2 u1 b1 b2"
for v in $variants; do : > "$WORK/$v"; : > "$WORK/$v.cpu"; : > "$WORK/$v.p50"; done
READRANDOM="-p fieldcount=1 -p fieldlength=100"  # db_bench's 100-byte values
for i in $(seq "$REPEATS"); do
  FIELDS=$READRANDOM
  run r1 workloadc uniform 1 true
  run q1 workloadc uniform 1 true $((OPS / 4))
  run r2 workloadc uniform 2 true
  run u1 workloadc uniform 1 false
  FIELDS=""  # YCSB's default record: 10 fields of 100 bytes
  run b1 workloadb zipfian 1 true
  run b2 workloadb zipfian 2 true
done

echo "memory: $RECORDS records, $OPS operations, $REPEATS runs each ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
for how in median best; do
  r1=$($how < "$WORK/r1"); r2=$($how < "$WORK/r2"); u1=$($how < "$WORK/u1"); b1=$($how < "$WORK/b1"); b2=$($how < "$WORK/b2")
  echo "$how of the runs:"
  awk -v a="$r1" -v b="$r2" -v c="$u1" -v d="$b1" -v e="$b2" 'BEGIN {
    printf "  readrandom 1 thread  %10.0f ops/s = %6.1f ns/op through the whole loop (target <= 400)\n", a, 1e9 / a
    printf "  readrandom 2 threads %10.0f ops/s: scaling %.2fx (target >= 1.8)\n", b, b / a
    printf "  read-heavy 1 thread  %10.0f ops/s, 2 threads %10.0f ops/s: scaling %.2fx (target >= 1.8)\n", d, e, e / d
    printf "  metering overhead (wall): %.1f ns/op (%.1f metered - %.1f unmetered)\n", 1e9 / a - 1e9 / c, 1e9 / a, 1e9 / c }'
done
p1=$(median < "$WORK/b1.p50"); p2=$(median < "$WORK/b2.p50")
awk -v a="$p1" -v b="$p2" 'BEGIN { printf "read-heavy get p50 (median of the runs): 1 thread %.3f us, 2 threads %.3f us: %.2fx (target <= 1.2)\n", a, b, b / a }'
# CPU time: the least disturbed (smallest) of the repeats.
c1=$(low < "$WORK/r1.cpu"); d1=$(low < "$WORK/u1.cpu"); q1=$(low < "$WORK/q1.cpu")
echo "CPU time (least of the repeats, whole process: load $RECORDS + run $OPS):"
awk -v a="$c1" -v c="$d1" -v q="$q1" -v n="$OPS" 'BEGIN {
  printf "  readrandom 1 thread: metered %.3f s, unmetered %.3f s; metered with OPS/4 reads %.3f s\n", a, c, q
  printf "  readrandom CPU per operation through the whole loop: %.1f ns/op (target <= 400)\n", (a - q) / (n - n / 4) * 1e9
  printf "  metering overhead (CPU): %.1f ns/op (target < 50)\n", (a - c) / n * 1e9 }'
# Scaling by CPU time: the same operations on 2 threads should cost the same CPU as on 1 (contention,
# a lock or a shared cache line, shows as more CPU per operation). Read this when the machine is so
# loaded that the wall-time scaling above only measures the neighbours.
c2=$(low < "$WORK/r2.cpu"); e1=$(low < "$WORK/b1.cpu"); e2=$(low < "$WORK/b2.cpu")
awk -v a="$c1" -v b="$c2" -v d="$e1" -v e="$e2" -v n="$OPS" 'BEGIN {
  printf "  CPU per operation, 2 threads vs 1: readrandom %+.1f ns, read-heavy %+.1f ns\n", (b - a) / n * 1e9, (e - d) / n * 1e9 }'

rm -rf "$WORK"
