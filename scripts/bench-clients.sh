#!/usr/bin/env bash
# Client-thread scaling and metering overhead, measured side by side in one run (release build).
#
#   scaling:  YCSB workload C (reads only, zipfian) on `memory`, 1 and then 2 client threads, same
#             records and operations; prints the ops/s of each and the ratio 2 threads / 1 thread.
#             Target >= 1.6 (on a 2-core machine): measurement must not serialize the clients.
#   overhead: the same reads on 1 thread with metering on (clock reads + HdrHistogram record per op)
#             and off (metering=false: the op stream, key formatting and engine call only); prints
#             the difference in ns per operation, from wall time and from the process's CPU time
#             (user + sys; the load phase is the same in both and cancels out). CPU time is the robust
#             figure on a shared machine: time spent descheduled does not count. Target < 100 ns.
#
# ops/s is the run phase's operations / its wall time. The variants are interleaved so machine noise
# hits them alike; each figure is printed as the median and the best of REPEATS runs (on a shared
# machine the best run is the one least disturbed by other load). 2 threads without metering is
# printed too: it is the ceiling the engine and the machine allow, so metered scaling close to it
# means the measurement does not serialize the clients. Not a test: timing never gates CI.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-100000}
OPS=${OPS:-4000000}
REPEATS=${REPEATS:-5}
WORK=${WORK:-$(mktemp -d /tmp/orbit-clients.XXXXXX)}
swift build -c release --product orbit-bench >/dev/null
bin=.build/release/orbit-bench

# run NAME THREADS METERING -> appends the run phase's get ops/s to $WORK/NAME and the process's
# CPU seconds (user + sys) to $WORK/NAME.cpu
run() {
  local out="$WORK/out-$1" TIMEFORMAT='%3U %3S'
  rm -rf "$out"
  { time "$bin" run workloads/ycsb/workloadc --backend memory --quiet --out "$out" \
      -p recordcount="$RECORDS" -p operationcount="$OPS" -p threadcount="$2" \
      -p metering="$3" -p metrics_sample_rate=0 >/dev/null; } 2> "$out.time"
  awk '{ print $1 + $2 }' "$out.time" >> "$WORK/$1.cpu"
  awk -F, 'NR > 1 && $15 == "run" && $4 == "get" { print $7 }' "$out/summary.csv" >> "$WORK/$1"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

best() { sort -g | tail -1; }

for v in t1 t2 u1 u2; do : > "$WORK/$v"; : > "$WORK/$v.cpu"; done
for i in $(seq "$REPEATS"); do
  run t1 1 true
  run t2 2 true
  run u1 1 false
  run u2 2 false
done

echo "workload C on memory: $RECORDS records, $OPS reads, $REPEATS runs each ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
for how in median best; do
  t1=$($how < "$WORK/t1"); t2=$($how < "$WORK/t2"); u1=$($how < "$WORK/u1"); u2=$($how < "$WORK/u2")
  echo "$how:"
  awk -v a="$t1" -v b="$t2" -v c="$u1" -v d="$u2" 'BEGIN {
    printf "  metered   1 thread %10.0f ops/s, 2 threads %10.0f ops/s: scaling %.2fx (target >= 1.6)\n", a, b, b / a
    printf "  unmetered 1 thread %10.0f ops/s, 2 threads %10.0f ops/s: scaling %.2fx (the ceiling)\n", c, d, d / c
    printf "  metering overhead (wall): %.1f ns/op (%.1f metered - %.1f unmetered; target < 100)\n", 1e9 / a - 1e9 / c, 1e9 / a, 1e9 / c }'
done
# CPU time: the least disturbed (smallest) of the repeats.
low() { sort -g | head -1; }
c1=$(low < "$WORK/t1.cpu"); c2=$(low < "$WORK/t2.cpu"); d1=$(low < "$WORK/u1.cpu"); d2=$(low < "$WORK/u2.cpu")
echo "CPU time (least of the repeats, whole process: load $RECORDS + run $OPS):"
awk -v a="$c1" -v b="$c2" -v c="$d1" -v d="$d2" -v n="$OPS" 'BEGIN {
  printf "  metered   1 thread %.3f s, 2 threads %.3f s; unmetered 1 thread %.3f s, 2 threads %.3f s\n", a, b, c, d
  printf "  metering overhead (CPU): %.1f ns/op (target < 100)\n", (a - c) / n * 1e9
  printf "  CPU per op, 2 threads vs 1: metered %+.1f ns, unmetered %+.1f ns (contention would show here)\n", (b - a) / n * 1e9, (d - c) / n * 1e9 }'

rm -rf "$WORK"
