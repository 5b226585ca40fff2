#!/usr/bin/env bash
# The lsm engine against rocksdb through orbit-bench (issue 3): same work, same machine, REPEATS
# interleaved pairs (the order alternates each repeat), medians and per-pair ratios printed, the
# durability mode beside every figure. Release build. Not a test: timing never gates CI.
#
#   fillrandom  NUM keys (default 1,000,000), 16 B keys, 100 B values, WAL on, no sync: lsm/rocksdb ops/s (target >= 1.0)
#   readrandom  NUM uniform point reads of that data after a 2 s warm-up: lsm/rocksdb ops/s (target >= 0.8)
#   scan100     NUM/20 100-entry range scans from uniform random starts: lsm/rocksdb ops/s (target >= 0.8)
#   every-write p50 put latency of lsm / p50 of a 4 KiB append + fdatasync probe on the same disk (target <= 1.25)
#   group       lsm group commit, 2 writers / lsm every-write, 1 writer, ops/s (target >= 1.6)
#   group-1     lsm group commit, 1 writer / every-write, 1 writer, ops/s (a lone writer must not pay for
#               group commit: about 1.0)
#   BIG=1       (REPEATS=0 for this alone) also fills 20,000,000 keys into lsm once: throughput of the first and the last million,
#               longest write stall, and jemalloc heap against memtables + cache + indexes + filters + 256 MiB
#
# Environment: NUM, REPEATS (default 3), SYNC_OPS (default 2000 per round), SYNC_ROUNDS (default 3 per
# repeat), BENCHES (a subset of "fill scan sync"; fill includes readrandom), WORK (work dir), BIG, BIG_NUM.
set -euo pipefail
cd "$(dirname "$0")/.."
NUM=${NUM:-1000000}
REPEATS=${REPEATS:-3}
SYNC_OPS=${SYNC_OPS:-2000}
SYNC_ROUNDS=${SYNC_ROUNDS:-3}
BENCHES=" ${BENCHES:-fill scan sync} "
for b in $BENCHES; do
  case $b in fill|scan|sync) ;;
    *) echo "bench-lsm.sh: BENCHES: unknown part '$b'; allowed: fill scan sync" >&2; exit 2;;
  esac
done
BIG_NUM=${BIG_NUM:-20000000}
WORK=${WORK:-$(mktemp -d /tmp/orbit-bench-lsm.XXXXXX)}
mkdir -p "$WORK"
scripts/install-deps.sh >/dev/null
swift build -c release --product orbit-bench >/dev/null
bin=$PWD/.build/release/orbit-bench

workload() {  # file name backend durability threads records ops mix [extra yaml]
  cat > "$WORK/$1.yaml" <<YAML
name: $2
backends: [$3]
durability: $4
threads: $5
record_count: $6
operation_count: $7
warmup_ops: 0
seed: 303
key_size: 16
value_size: 100
load_order: random
key_distribution: uniform
metrics_sample_rate: 0
mix: {$8}
${9:-}
config:
  rocksdb: {block_cache_mb: 256, write_buffer_mb: 64, compression: false, bloom_bits_per_key: 10, wal: true}
  lsm: {block_cache_mb: 256, memtable_size_mb: 64, enable_compression: false, bloom_filter_bits_per_key: 10}
YAML
}

run() {  # file -> summary.csv path
  rm -rf "$WORK/out-$1"
  "$bin" run "$WORK/$1.yaml" --quiet --out "$WORK/out-$1" > "$WORK/$1.log" 2>&1 || { cat "$WORK/$1.log" >&2; exit 1; }
  echo "$WORK/out-$1/summary.csv"
}

# field: summary.csv backend phase operation column(7 = ops_per_s, 9 = p50_us)
field() { awk -F, -v b="$2" -v ph="$3" -v op="$4" -v c="$5" '$1==b && $15==ph && $4==op {print $c}' "$1"; }

# fdatasync probe: 500 x (append 4 KiB, fdatasync) in the work dir; prints the p50 in µs.
probe() {
  python3 - "$WORK/probe" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
buf, lat = b"\0" * 4096, []
for _ in range(500):
    t = time.perf_counter_ns(); os.write(fd, buf); os.fdatasync(fd); lat.append(time.perf_counter_ns() - t)
os.close(fd); os.unlink(sys.argv[1]); lat.sort()
print(lat[len(lat) // 2] / 1000)
PY
}

declare -A V  # V[metric,repeat] = value
declare -A S  # S[metric,round] = value (sync benchmarks: SYNC_ROUNDS rounds per repeat)
for r in $(seq 1 "$REPEATS"); do
  if [ $((r % 2)) = 1 ]; then order="lsm rocksdb"; else order="rocksdb lsm"; fi
  for b in $order; do
    if [[ $BENCHES == *" fill "* ]]; then
      workload "fill-$b" fillread "$b" none 1 "$NUM" "$NUM" "read: 1.0" "warmup_s: 2"
      s=$(run "fill-$b")
      V[fill-$b,$r]=$(field "$s" "$b" load load 7)
      V[read-$b,$r]=$(field "$s" "$b" run get 7)
    fi
    if [[ $BENCHES == *" scan "* ]]; then
      workload "scan-$b" scan100 "$b" none 1 "$NUM" $((NUM / 20)) "scan: 1.0" "scan_length: {min: 100, max: 100}
warmup_s: 2"
      s=$(run "scan-$b")
      V[scan-$b,$r]=$(field "$s" "$b" run range_query 7)
    fi
  done
  [[ $BENCHES == *" sync "* ]] || { echo "repeat $r/$REPEATS done" >&2; continue; }
  # The sync benchmarks: a shared disk's fdatasync latency drifts by tens of percent within
  # seconds, so each repeat runs SYNC_ROUNDS short rounds (probe, every-write, group 2, group 1, the
  # order rotating) and keeps each round's ratios; the figures below are medians over all rounds.
  for k in $(seq 1 "$SYNC_ROUNDS"); do
    i=$(( (r - 1) * SYNC_ROUNDS + k ))
    case $((i % 3)) in 0) sorder="every group2 group1";; 1) sorder="group2 group1 every";; *) sorder="group1 every group2";; esac
    S[probe,$i]=$(probe)
    for w in $sorder; do
      case $w in
        every) workload every lsm-every-write lsm every-write 1 1000 "$SYNC_OPS" "update: 1.0"
               s=$(run every); S[ep50,$i]=$(field "$s" lsm run update 9); S[eops,$i]=$(field "$s" lsm run update 7);;
        group2) workload group2 lsm-group-2 lsm group 2 1000 $((SYNC_OPS * 2)) "update: 1.0"
               s=$(run group2); S[g2ops,$i]=$(field "$s" lsm run update 7);;
        group1) workload group1 lsm-group-1 lsm group 1 1000 "$SYNC_OPS" "update: 1.0"
               s=$(run group1); S[g1ops,$i]=$(field "$s" lsm run update 7);;
      esac
    done
  done
  echo "repeat $r/$REPEATS done (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
vals() { local m=$1 out=""; for r in $(seq 1 "$REPEATS"); do out+="${V[$m,$r]} "; done; echo "$out"; }
ratios() { local a=$1 b=$2 out=""; for r in $(seq 1 "$REPEATS"); do out+="$(awk -v x="${V[$a,$r]}" -v y="${V[$b,$r]}" 'BEGIN {printf "%.3f", x/y}') "; done; echo "$out"; }
svals() { local m=$1 out=""; for i in $(seq 1 $((REPEATS * SYNC_ROUNDS))); do out+="${S[$m,$i]} "; done; echo "$out"; }
sratios() { local a=$1 b=$2 out=""; for i in $(seq 1 $((REPEATS * SYNC_ROUNDS))); do out+="$(awk -v x="${S[$a,$i]}" -v y="${S[$b,$i]}" 'BEGIN {printf "%.3f", x/y}') "; done; echo "$out"; }

line() {  # label durability a-metric b-metric target format
  [[ -z "${V[$3,1]:-}" ]] && return
  local ra; ra=$(ratios "$3" "$4")
  printf "%-32s %-12s %12s %12s %8s  %-22s %s\n" "$1" "$2" \
    "$(printf "$6" "$(vals "$3" | median)")" "$(printf "$6" "$(vals "$4" | median)")" \
    "$(echo "$ra" | median)" "$ra" "$5"
}
sline() {  # as line, over the sync rounds (per-round ratios)
  [[ -z "${S[$3,1]:-}" ]] && return
  local ra; ra=$(sratios "$3" "$4")
  printf "%-32s %-12s %12s %12s %8s  %-22s %s\n" "$1" "$2" \
    "$(printf "$6" "$(svals "$3" | median)")" "$(printf "$6" "$(svals "$4" | median)")" \
    "$(echo "$ra" | median)" "$ra" "$5"
}

if [ "$REPEATS" -gt 0 ]; then
  echo
  echo "lsm vs rocksdb: $NUM keys, 16 B keys, 100 B values, no compression, WAL on; $REPEATS interleaved repeats;"
  echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg); work dir $WORK"
  printf "%-32s %-12s %12s %12s %8s  %-22s %s\n" benchmark durability "lsm (med)" "other (med)" ratio "per-pair ratios" target
  line "fillrandom ops/s" none fill-lsm fill-rocksdb ">=1.0 vs rocksdb" "%.0f"
  line "readrandom ops/s" none read-lsm read-rocksdb ">=0.8 vs rocksdb" "%.0f"
  line "scan 100 ops/s" none scan-lsm scan-rocksdb ">=0.8 vs rocksdb" "%.0f"
  sline "put p50 us vs fdatasync probe" every-write ep50 probe "<=1.25 (probe p50)" "%.1f"
  sline "group 2 writers / every-write 1" group/e-w g2ops eops ">=1.6 (ops/s)" "%.0f"
  sline "group 1 writer / every-write 1" group/e-w g1ops eops "~1.0 (ops/s)" "%.0f"
  [[ -n "${S[eops,1]:-}" ]] && echo "(sync lines: medians over $((REPEATS * SYNC_ROUNDS)) rounds of $SYNC_OPS writes per writer; ratios per round)"
fi

if [ "${BIG:-0}" = 1 ]; then
  workload big lsm-fill-20m lsm none 1 "$BIG_NUM" 1000 "read: 1.0"
  s=$(run big)
  out=$WORK/out-big
  echo
  echo "lsm fillrandom $BIG_NUM keys (durability none, WAL on): load $(field "$s" lsm load load 7) ops/s overall; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  # Throughput of the first and the last million, from the per-interval load counts.
  awk -F, -v n="$BIG_NUM" 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next}
    $c["operation"] == "load" {
      prev = cum; cum += $c["count"]; t = $c["elapsed_s"]
      if (!f1 && cum >= 1000000) { f1 = t; }
      if (!s2 && cum >= n - 1000000) { s2 = t; }
      if (cum >= n && !e2) { e2 = t }
      if ($c["count"] == 0) { zero++; if (zero > longest) longest = zero } else zero = 0
    }
    END {
      first = 1000000 / f1; last = 1000000 / (e2 - s2)
      printf "  first million: %.0f ops/s (%.1f s); last million: %.0f ops/s (%.1f s); last/first %.3f (target >= 0.5)\n", first, f1, last, e2 - s2, last / first
      printf "  longest run of intervals with no completed write: %d\n", longest
    }' "$out/timeseries.csv"
  # Heap against the engine's own accounting (memtables + block cache + indexes + filters) + 256 MiB.
  awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next}
    $c["backend"] == "lsm" {
      over = $c["process_heap_bytes"] - $c["memory_usage_bytes"]
      if ($c["process_heap_bytes"] > heap) { heap = $c["process_heap_bytes"]; acct = $c["memory_usage_bytes"] }
      if (over > worst) worst = over
    }
    END {
      printf "  jemalloc heap peak %.0f MiB (engine accounting then %.0f MiB); worst heap - accounting %.0f MiB (target < 256)\n", heap / 1048576, acct / 1048576, worst / 1048576
    }' "$out/stats.csv"
  python3 - "$out/summary.json" <<'PY'
import json, sys
def find(o, k):
    if isinstance(o, dict):
        if k in o: return o[k]
        o = list(o.values())
    if isinstance(o, list):
        for v in o:
            r = find(v, k)
            if r is not None: return r
    return None
d = json.load(open(sys.argv[1]))
print("  final stats: write stalls %.1f s in total, %s flushes, %s compactions, write amplification %s" % (
    (find(d, "stall_ms") or 0) / 1000, find(d, "flushes"), find(d, "compactions"), find(d, "write_amplification")))
PY
  echo "  timeseries: $out/timeseries.csv, stats: $out/stats.csv"
fi
