#!/usr/bin/env bash
# Stores larger than memory (issue 16 item 7): KEYS keys (16 B keys, 100 B values) under
# memory_limit_mb=LIMIT_MB (a memory cgroup per backend, page cache included: README "Memory-bounded
# runs") on cow, lmdb, lsm and rocksdb, REPEATS interleaved rounds (the engine order rotates each
# round). Per engine and round: one `orbit-bench load` (fillrandom) into a fresh store, then runs on
# that store with --reuse:
#
#   readrandom      READS uniform point reads
#   readzipf        READS zipfian (0.99) point reads
#   scan100         SCANS 100-entry scans from uniform start keys
#   overwrite       OVERWRITES uniform updates of loaded keys, durability none: random writes into
#                   the store larger than memory (db_bench's overwrite)
#   update-sync     SYNC_OPS updates, durability every-write (each acknowledged after its sync)
#
# LOAD_LIMIT_MB sets the load's own regime: the default (LIMIT_MB) loads under the same limit, so the
# fillrandom row is random inserts into a store growing past memory; 0 loads unbounded (the fillrandom
# row then says `unbounded`, and `overwrite` is the bounded write figure). A B+tree's random inserts
# into a store several times its memory read a leaf from disk per insert: on this machine kind LMDB
# took over 13 minutes for 2,000,000 of them under 64 MiB, so at 20,000,000 keys a bounded load runs
# for hours; LOAD_LIMIT_MB=0 makes the script finish in about an hour.
#
# Load and reads run under durability none. Prints ops/s, p50/p99, bytes read from disk per operation
# (the engine's own account, metrics.csv), peak memory of the cgroup and the open time of the loaded
# store (the readrandom run's open after the load's clean close), medians over the rounds, and the
# ratios against the targets:
#   cow readrandom >= 0.8x lmdb, cow fillrandom >= 1.0x lmdb; lsm readrandom >= 0.8x rocksdb, lsm
#   fillrandom >= 1.0x rocksdb; no engine killed by the limit; cow open after a clean close <= 50 ms.
# Release build. Not a test: timing never gates CI.
#
# Environment: KEYS (20000000), LIMIT_MB (512), LOAD_LIMIT_MB (LIMIT_MB; 0: unbounded), READS
# (1000000), SCANS (100000), OVERWRITES (1000000), SYNC_OPS (2000), REPEATS (3), ENGINES ("cow lmdb
# lsm rocksdb"), REPORT_ONLY (1: print the tables from WORK's results without running), BENCHES (a subset of "readrandom readzipf scan100 overwrite updatesync"), THREADS (1), WORK (work dir; results stay there), SCRATCH (build dir, .build), and
# EXTRA (more --set arguments for every run, e.g. "--set cow.cache_mb=128": cow's heap while writing
# is up to ~3x its cache, README "Memory-bounded runs"), LMDB_READAHEAD (0: lmdb runs with
# lmdb.no_readahead=true, LMDB's setting for maps larger than memory; 1: the OS's readahead).
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${KEYS:-20000000}
LIMIT_MB=${LIMIT_MB:-512}
LOAD_LIMIT_MB=${LOAD_LIMIT_MB:-$LIMIT_MB}
OVERWRITES=${OVERWRITES:-1000000}
READS=${READS:-1000000}
SCANS=${SCANS:-100000}
SYNC_OPS=${SYNC_OPS:-2000}
REPEATS=${REPEATS:-3}
THREADS=${THREADS:-1}
ENGINES=${ENGINES:-cow lmdb lsm rocksdb}
BENCHES=${BENCHES:-readrandom readzipf scan100 overwrite updatesync}
EXTRA=${EXTRA:-}
WORK=${WORK:-$(mktemp -d /tmp/orbit-bench-big.XXXXXX)}
SCRATCH=${SCRATCH:-.build}
mkdir -p "$WORK"
scripts/install-deps.sh >/dev/null
swift build -c release --product orbit-bench --scratch-path "$SCRATCH" >/dev/null
bin=$SCRATCH/release/orbit-bench

workload() {  # name durability operation_count mix distribution [extra yaml]
  cat > "$WORK/$1.yaml" <<YAML
name: big-$1
description: bench-big $1
durability: $2
record_count: $KEYS
operation_count: $3
warmup_ops: 0
threads: $THREADS
seed: 1616
key_size: 16
value_size: 100
load_order: random
key_distribution: $5
metrics_sample_rate: 0.01
mix: $4
${6:-}
YAML
}
workload fill none 0 "{read: 1.0}" uniform
workload readrandom none "$READS" "{read: 1.0}" uniform
workload readzipf none "$READS" "{read: 1.0}" "{type: zipfian, constant: 0.99}"
workload scan100 none "$SCANS" "{scan: 1.0}" uniform "scan_length: {min: 100, max: 100}"
workload overwrite none "$OVERWRITES" "{update: 1.0}" uniform
workload updatesync every-write "$SYNC_OPS" "{update: 1.0}" uniform

has() { case " $BENCHES " in *" $1 "*) return 0;; *) return 1;; esac; }

# run COMMAND NAME ENGINE ROUND [flags]: results in $WORK/out-NAME-ENGINE-ROUND; a failed or killed run
# is recorded (the table says so) and the round goes on.
run() {
  local cmd=$1 name=$2 be=$3 r=$4; shift 4
  local out="$WORK/out-$name-$be-$r" limit=$LIMIT_MB
  [ "$name" = fill ] && limit=$LOAD_LIMIT_MB
  local bound=(--set memory_limit_mb="$limit")
  [ "$limit" = 0 ] && bound=()
  # LMDB's own advice for random access to a map larger than memory: MDB_NORDAHEAD. Without it every
  # page fault reads ahead (measured here: ~1 GB/s from disk at ~200 faults/s, under 1,000 reads/s).
  [ "$be" = lmdb ] && [ "${LMDB_READAHEAD:-0}" = 0 ] && bound+=(--set lmdb.no_readahead=true)
  rm -rf "$out"
  local rc=0
  # shellcheck disable=SC2086
  "$bin" "$cmd" "$WORK/$name.yaml" --backend "$be" --quiet --out "$out" --data-dir "$WORK/data-$be" \
    "${bound[@]}" $EXTRA "$@" > "$out.log" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    local why; why=$(tail -2 "$out.log" | tr '\n' ' ')
    [ "$rc" = 137 ] && why="killed by SIGKILL (the memory cgroup's OOM killer: see dmesg) $why"
    echo "  FAILED: $cmd $name on $be (round $r), exit $rc: $why" >&2
    echo "$name $be $r" >> "$WORK/failed"
  fi
}

if [ "${REPORT_ONLY:-0}" = 0 ]; then
echo "bench-big: $KEYS keys under memory_limit_mb=$LIMIT_MB (load: $LOAD_LIMIT_MB), $REPEATS rounds, work dir $WORK, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
: > "$WORK/failed"
set -- $ENGINES
n=$#
engines=("$@")
for r in $(seq 1 "$REPEATS"); do
  order=""
  for i in $(seq 0 $((n - 1))); do order="$order ${engines[$(((i + r - 1) % n))]}"; done
  for be in $order; do
    echo "round $r/$REPEATS: $be: fillrandom ..." >&2
    rm -rf "$WORK/data-$be"
    run load fill "$be" "$r" --fresh
    for b in readrandom readzipf scan100 overwrite updatesync; do
      has "$b" || continue
      echo "round $r/$REPEATS: $be: $b ..." >&2
      run run "$b" "$be" "$r" --reuse --set load=false
    done
    rm -rf "$WORK/data-$be"
  done
done
fi

# col NAME ENGINE ROUND PHASE OPERATION COLUMN-NAME, from summary.csv (by the header's names)
col() {
  local f="$WORK/out-$1-$2-$3/summary.csv"
  [ -f "$f" ] || { echo nan; return; }
  awk -F, -v b="$2" -v p="$4" -v o="$5" -v c="$6" 'NR == 1 {for (i = 1; i <= NF; i++) h[$i] = i; next}
    $1 == b && $h["phase"] == p && $h["operation"] == o {print $h[c]; found = 1} END {if (!found) print "nan"}' "$f"
}
# bytes read from disk per operation, from the sampled metrics.csv
bytesread() {
  local f="$WORK/out-$1-$2-$3/metrics.csv"
  [ -f "$f" ] || { echo nan; return; }
  awk -F, -v o="$4" 'NR == 1 {for (i = 1; i <= NF; i++) h[$i] = i; next} $h["operation"] == o {s += $h["disk_bytes_read"]; n++}
    END {if (n) printf "%.0f", s / n; else print "nan"}' "$f"
}
openms() {
  local f="$WORK/out-$1-$2-$3/summary.json"
  [ -f "$f" ] || { echo nan; return; }
  python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["backends"][0]["open_s"] * 1000))' "$f"
}
median() { { grep -v -e nan -e '^$' || true; } | sort -g | awk '{v[NR] = $1} END {if (NR == 0) {print "nan"; exit} if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
med() {  # FUNCTION ARGS... (ROUND substituted) over the rounds
  local fn=$1 name=$2 be=$3; shift 3
  for r in $(seq 1 "$REPEATS"); do "$fn" "$name" "$be" "$r" "$@"; echo; done | median
}

echo
echo "stores larger than memory: $KEYS keys (16 B keys, 100 B values), memory regime: cgroup $LIMIT_MB MiB per backend (page cache included), $THREADS thread(s), medians of $REPEATS rounds"
echo "durability: fillrandom, reads, scans and overwrite none; update-sync every-write. fillrandom's regime: $([ "$LOAD_LIMIT_MB" = 0 ] && echo unbounded || echo "cgroup $LOAD_LIMIT_MB MiB"). load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); work dir $WORK"
printf "%-12s %-11s %-9s %12s %10s %10s %12s %12s\n" benchmark durability engine ops/s "p50 us" "p99 us" "read B/op" "peak MiB"
line() {  # LABEL DURABILITY NAME PHASE OPERATION ENGINE
  local peak
  peak=$(med col "$3" "$6" "$4" "$5" peak_memory_bytes)
  printf "%-12s %-11s %-9s %12s %10s %10s %12s %12s\n" "$1" "$2" "$6" "$(med col "$3" "$6" "$4" "$5" ops_per_s)" \
    "$(med col "$3" "$6" "$4" "$5" p50_us)" "$(med col "$3" "$6" "$4" "$5" p99_us)" "$(med bytesread "$3" "$6" "$5")" \
    "$(awk -v p="$peak" 'BEGIN {if (p == "nan") print p; else printf "%.0f", p / 1048576}')"
}
for be in $ENGINES; do line fillrandom none fill load load "$be"; done
has readrandom && for be in $ENGINES; do line readrandom none readrandom run get "$be"; done
has readzipf && for be in $ENGINES; do line "read zipf" none readzipf run get "$be"; done
has scan100 && for be in $ENGINES; do line "scan 100" none scan100 run range_query "$be"; done
has overwrite && for be in $ENGINES; do line overwrite none overwrite run update "$be"; done
has updatesync && for be in $ENGINES; do line update-sync every-write updatesync run update "$be"; done

ratio() {  # LABEL NAME PHASE OPERATION A B TARGET: median over rounds of A/B ops/s
  local rs="" a b
  for r in $(seq 1 "$REPEATS"); do
    a=$(col "$2" "$5" "$r" "$3" "$4" ops_per_s); b=$(col "$2" "$6" "$r" "$3" "$4" ops_per_s)
    rs="$rs $(awk -v a="$a" -v b="$b" 'BEGIN {if (a == "nan" || b == "nan" || b == 0) print "nan"; else printf "%.2f", a / b}')"
  done
  printf "%-28s %7sx  per round:%s  target %s\n" "$1" "$(echo $rs | tr ' ' '\n' | median)" "$rs" "$7"
}
echo
echo "ratios (ops/s, medians of the per-round ratios):"
on() { case " $ENGINES " in *" $1 "*) return 0;; *) return 1;; esac; }
if on cow && on lmdb; then
  has readrandom && ratio "cow/lmdb readrandom" readrandom run get cow lmdb ">= 0.8"
  ratio "cow/lmdb fillrandom" fill load load cow lmdb ">= 1.0"
  has overwrite && ratio "cow/lmdb overwrite" overwrite run update cow lmdb "(fillrandom's >= 1.0, bounded)"
fi
if on lsm && on rocksdb; then
  has readrandom && ratio "lsm/rocksdb readrandom" readrandom run get lsm rocksdb ">= 0.8"
  ratio "lsm/rocksdb fillrandom" fill load load lsm rocksdb ">= 1.0"
  has overwrite && ratio "lsm/rocksdb overwrite" overwrite run update lsm rocksdb "(fillrandom's >= 1.0, bounded)"
fi
if has readrandom; then
  for be in $ENGINES; do echo "open of the loaded store ($be, after a clean close): $(med openms readrandom "$be") ms$([ "$be" = cow ] && echo "  target <= 50 ms")"; done
fi
if [ -s "$WORK/failed" ]; then
  echo "FAILED or killed runs (name engine round):"; sed 's/^/  /' "$WORK/failed"
  grep -l "oom\|Killed\|signal 9" "$WORK"/out-*.log 2>/dev/null | sed 's/^/  killed? see /' || true
else
  echo "no run failed; no engine was killed by the limit"
fi
