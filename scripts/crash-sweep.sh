#!/usr/bin/env bash
# The full crash-recovery sweep of issue 5 (release build): real kills of every durable engine under
# every durability mode, then simulated power loss, corruption
# and injected I/O errors. Prints each run's summary table and a combined one; exits non-zero when any
# promise was broken (orbit-bench crash exits 3) or a run failed.
#
#   kill         KILL_CYCLES (default 1000) kill cycles per durable engine (rocksdb, lsm, cow, lmdb) on
#                workloads/crash-recovery.yaml (every-write), and KILL_MODE_CYCLES (default 250) per
#                engine under each of none, group, periodic (crash-recovery-<mode>.yaml)
#   server-kill  SERVER_KILL_CYCLES (default 200) kills of the managed server (its whole process tree,
#                not the client) per server backend of SERVER_BACKENDS (default: postgres redis) under
#                each of every-write, periodic and none; 2 writer threads. Lost acknowledged writes are
#                a violation where the mode's promise keeps them over a process crash, else reported
#   node-kill    NODE_KILL_CYCLES (default 50) failovers per replicated cluster: etcd with 3 members
#                (the leader, then a follower, in turn) and PostgreSQL with a synchronous standby (the
#                primary, promoting the standby, then the standby) and SeaweedFS behind s3 (one of three
#                volume servers, replication 001); every-write, 2 writers and a reader; 0 violations
#   power-loss   POWER_LOSS_STATES (default 10000) simulated power-loss states per hand-written engine
#   corruption   one corruption sweep per engine (lsm, cow gate the exit status; rocksdb, lmdb reported)
#   io-error     one I/O-error sweep per engine
#   file-damage  FILE_DAMAGE_CASES (default 1000) whole-file damage cases per engine (delete, truncate,
#                earlier generation, another engine's file) on a closed store and an open copy
#   concurrent-open  CONCURRENT_OPENS (default 1000) second opens per engine beside a holder process
#   resource-limits  RESOURCE_RUNS (default 2) stores grown past RESOURCE_TABLES (default 2000) tables
#                under RLIMIT_NOFILE=256, per engine
#   (these three: lsm, cow gate the exit status; rocksdb, lmdb are reported for the record)
#   fsync-failure      FSYNC_FAILURE_PROBES (default 10000) failed-fsync probes per hand-written engine and
#                      syncing mode (every-write, group, periodic), 1, 2 and 4 writers
#   concurrent-history HISTORY_RUNS (default 200) runs of HISTORY_OPS (10000) operations, 4 writers and 4
#                      readers, per engine (lsm, cow gate the exit status; rocksdb, lmdb, memory reported)
#   differential       DIFFERENTIAL_STREAMS (default 1000) streams of DIFFERENTIAL_OPS (10000) operations,
#                      each run on all five engines, per hand-written engine
#
# Environment: METHODS (default "kill server-kill power-loss corruption io-error fsync-failure concurrent-history differential": the parts to run), KILL_CYCLES, KILL_MODE_CYCLES, POWER_LOSS_STATES, CORRUPTION_PROBES, IO_ERROR_FAULTS,
# SERVER_KILL_CYCLES, SERVER_BACKENDS, FSYNC_FAILURE_PROBES, HISTORY_RUNS, HISTORY_OPS, DIFFERENTIAL_STREAMS, DIFFERENTIAL_OPS,
# BACKENDS (default "rocksdb lsm cow lmdb"), SEED (default 42), OUT (default results/crash-sweep-<time>).
# A quick run: KILL_CYCLES=20 KILL_MODE_CYCLES=5 scripts/crash-sweep.sh
set -uo pipefail
cd "$(dirname "$0")/.."
KILL_CYCLES=${KILL_CYCLES:-1000}
KILL_MODE_CYCLES=${KILL_MODE_CYCLES:-250}
SERVER_KILL_CYCLES=${SERVER_KILL_CYCLES:-200}
SERVER_BACKENDS=${SERVER_BACKENDS:-postgres redis}
NODE_KILL_CYCLES=${NODE_KILL_CYCLES:-50}
POWER_LOSS_STATES=${POWER_LOSS_STATES:-10000}
CORRUPTION_PROBES=${CORRUPTION_PROBES:-2000}
IO_ERROR_FAULTS=${IO_ERROR_FAULTS:-10000}
FILE_DAMAGE_CASES=${FILE_DAMAGE_CASES:-1000}; CONCURRENT_OPENS=${CONCURRENT_OPENS:-1000}
RESOURCE_RUNS=${RESOURCE_RUNS:-2}; RESOURCE_TABLES=${RESOURCE_TABLES:-2000}
FSYNC_FAILURE_PROBES=${FSYNC_FAILURE_PROBES:-10000}
HISTORY_RUNS=${HISTORY_RUNS:-200}
HISTORY_OPS=${HISTORY_OPS:-10000}
DIFFERENTIAL_STREAMS=${DIFFERENTIAL_STREAMS:-1000}
DIFFERENTIAL_OPS=${DIFFERENTIAL_OPS:-10000}
BACKENDS=${BACKENDS:-rocksdb lsm cow lmdb}
SEED=${SEED:-42}
ALL_METHODS="kill server-kill power-loss corruption io-error file-damage concurrent-open resource-limits fsync-failure concurrent-history differential node-kill"
METHODS=" ${METHODS:-$ALL_METHODS} "
wants() { case $METHODS in *" $1 "*) return 0;; *) return 1;; esac; }
for m in $METHODS; do
  case " $ALL_METHODS " in *" $m "*) ;;
    *) echo "crash-sweep.sh: METHODS: unknown part '$m'; allowed: $ALL_METHODS" >&2; exit 2;;
  esac
done
OUT=${OUT:-results/crash-sweep-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
scripts/install-deps.sh >/dev/null || exit 1
swift build -c release --product orbit-bench >/dev/null || exit 1
bin=$PWD/.build/release/orbit-bench
# The engines of BACKENDS a method supports (power loss and injected I/O errors: the hand-written ones).
hand_written() { for b in $BACKENDS; do case $b in lsm|cow) printf '%s ' "$b";; esac; done; }

status=0
runs=()
informational=()
run() {  # name workload [flags...]; RUN_BACKENDS overrides BACKENDS for one run
  local name=$1 workload=$2; shift 2
  local backend_flags=()
  for b in ${RUN_BACKENDS-$BACKENDS}; do backend_flags+=(--backend "$b"); done
  if [ ${#backend_flags[@]} -eq 0 ]; then echo "== $name: skipped (no engine of BACKENDS supports it)"; return; fi
  echo "== $name: orbit-bench crash $workload $*"
  "$bin" crash "$workload" "${backend_flags[@]}" --seed "$SEED" --out "$OUT/$name" "$@" | tee "$OUT/$name.txt"
  local s=${PIPESTATUS[0]}
  if [ "$s" -ne 0 ] && [ -n "${INFORMATIONAL:-}" ]; then
    echo "-- $name: exit status $s (informational run: not counted)"
    informational+=("$name")
  elif [ "$s" -ne 0 ]; then
    echo "!! $name: exit status $s (3: a promise was broken)"
    status=1
  fi
  runs+=("$name")
}

# Real kills: every durable engine, every mode.
if wants kill; then
  run kill-every-write workloads/crash-recovery.yaml --set cycles="$KILL_CYCLES"
  for mode in none group periodic; do
    run "kill-$mode" "workloads/crash-recovery-$mode.yaml" --set cycles="$KILL_MODE_CYCLES"
  done
fi

# Server kills: the managed server's process tree SIGKILLed while the harness writes, restarted on
# the same data directory (a run per server backend and mode: each has its own promise).
if wants server-kill; then
  for mode in every-write periodic none; do
    RUN_BACKENDS="$SERVER_BACKENDS" run "server-kill-$mode" workloads/crash-recovery.yaml --set crash_methods=server-kill \
      --set durability="$mode" --set cycles="$SERVER_KILL_CYCLES" --set crash.server_writers=2
  done
fi

# Failovers: one node of a replicated cluster SIGKILLed while clients write (unavailability per
# cycle in crash.csv, p50/p99/max in crash-summary.txt and summary.json's node_kill).
if wants node-kill; then
  RUN_BACKENDS=etcd run node-kill-etcd-3 workloads/crash-recovery.yaml --set crash_methods=node-kill \
    --set durability=every-write --set cycles="$NODE_KILL_CYCLES" --set crash.server_writers=2 --set etcd.members=3
  RUN_BACKENDS=postgres run node-kill-postgres-standby workloads/crash-recovery.yaml --set crash_methods=node-kill \
    --set durability=every-write --set cycles="$NODE_KILL_CYCLES" --set crash.server_writers=2 --set postgres.standby=sync
  # s3 has no atomic batches: single puts and deletes only.
  RUN_BACKENDS=s3 run node-kill-s3-seaweedfs workloads/crash-recovery.yaml --set crash_methods=node-kill \
    --set durability=every-write --set cycles="$NODE_KILL_CYCLES" --set crash.server_writers=2 --set s3.volume_servers=3 \
    --set s3.replication=001 --set crash.batch_fraction=0
fi

# Simulated power loss (hand-written engines: every write reordered/dropped/torn as a disk may).
wants power-loss && RUN_BACKENDS="$(hand_written)" run power-loss workloads/crash-recovery.yaml --set crash_methods=power-loss --set cycles="$POWER_LOSS_STATES"

# Corruption sweep, one per engine (writes corruption.csv beside crash.csv); CORRUPTION_PROBES is the
# probe budget per engine (the stride follows from it; --set corruption_stride=N fixes it instead).
# The hand-written engines' runs set the exit status: every flipped byte in a checksummed region
# detected or harmless. The peers' runs are measured for the record and do not: LMDB keeps no
# checksums, and RocksDB's WAL reader drops a damaged record silently in its default
# wal_recovery_mode (point-in-time), and reads a damaged length as a torn tail even in
# tolerate-corrupted-tail, which is swept too.
if wants corruption; then
  RUN_BACKENDS="$(hand_written)" run corruption workloads/crash-recovery.yaml --set crash_methods=corruption --set cycles="$CORRUPTION_PROBES"
  peers=$(for b in $BACKENDS; do case $b in rocksdb|lmdb) printf '%s ' "$b";; esac; done)
  INFORMATIONAL=1 RUN_BACKENDS="$peers" run corruption-peers workloads/crash-recovery.yaml --set crash_methods=corruption \
    --set cycles="$CORRUPTION_PROBES" --set rocksdb.wal_recovery_mode=tolerate-corrupted-tail
  case " $BACKENDS " in *" rocksdb "*)
    INFORMATIONAL=1 RUN_BACKENDS=rocksdb run corruption-rocksdb-default workloads/crash-recovery.yaml \
      --set crash_methods=corruption --set cycles="$CORRUPTION_PROBES" --set rocksdb.wal_recovery_mode=point-in-time;;
  esac
fi

# Injected I/O errors (ENOSPC, EIO on write, read, fsync) in the hand-written engines.
wants io-error && RUN_BACKENDS="$(hand_written)" run io-error workloads/crash-recovery.yaml --set crash_methods=io-error --set cycles="$IO_ERROR_FAULTS"

# Whole-file damage, second opens beside a holder, descriptor limits: every durable engine; the
# hand-written engines' runs set the exit status, the peers' are for the record.
peers_of() { for b in $BACKENDS; do case $b in rocksdb|lmdb) printf '%s ' "$b";; esac; done; }
for m in file-damage concurrent-open resource-limits; do
  wants $m || continue
  case $m in
    file-damage) sets=(--set cycles="$FILE_DAMAGE_CASES" --set record_count=1000);;
    concurrent-open) sets=(--set cycles="$CONCURRENT_OPENS" --set crash.opens_per_holder=50 --set record_count=1000);;
    resource-limits) sets=(--set cycles="$RESOURCE_RUNS" --set crash.grow_tables="$RESOURCE_TABLES" --set crash.nofile=256 --set durability=none);;
  esac
  RUN_BACKENDS="$(hand_written)" run "$m" workloads/crash-recovery.yaml --set crash_methods=$m "${sets[@]}"
  INFORMATIONAL=1 RUN_BACKENDS="$(peers_of)" run "$m-peers" workloads/crash-recovery.yaml --set crash_methods=$m "${sets[@]}"
done

# One failed fsync/fdatasync under 1, 2 and 4 writers, every syncing mode (hand-written engines).
if wants fsync-failure; then
  for mode in every-write group periodic; do
    RUN_BACKENDS="$(hand_written)" run "fsync-failure-$mode" workloads/crash-recovery.yaml --set crash_methods=fsync-failure \
      --set durability="$mode" --set cycles="$FSYNC_FAILURE_PROBES"
  done
fi

# Concurrent writers and readers, linearizability checked (lsm, cow gate; the others for the record).
if wants concurrent-history; then
  history_flags=(--set crash_methods=concurrent-history --set cycles="$HISTORY_RUNS" --set crash.history_operations="$HISTORY_OPS"
                 --set crash.history_writers=4 --set crash.history_readers=4 --set durability=none)
  RUN_BACKENDS="$(hand_written)" run concurrent-history workloads/crash-recovery.yaml "${history_flags[@]}"
  peers=$(for b in $BACKENDS; do case $b in rocksdb|lmdb) printf '%s ' "$b";; esac; done)
  INFORMATIONAL=1 RUN_BACKENDS="$peers memory" run concurrent-history-peers workloads/crash-recovery.yaml "${history_flags[@]}"
fi

# One seeded op stream on all five engines, states compared (per hand-written engine). Each stream's
# peers run once for both subjects (the sweep remembers their observations' digests). RocksDB with a
# 1 MiB memtable: it flushes inside a stream, and its WAL preallocation (write_buffer_size-sized,
# allocated and truncated again at each of a stream's reopens and restores) no longer takes 70% of
# the sweep's time.
wants differential && RUN_BACKENDS="$(hand_written)" run differential workloads/crash-recovery.yaml --set crash_methods=differential \
  --set cycles="$DIFFERENTIAL_STREAMS" --set crash.differential_operations="$DIFFERENTIAL_OPS" --set durability=none \
  --set rocksdb.write_buffer_mb=1 --set rocksdb.block_cache_mb=8 --set lmdb.map_size_mb=64

echo
echo "== summary (every run; the tables above say which promise each engine made per mode)"
first=1
for name in "${runs[@]}"; do
  if [ $first -eq 1 ]; then sed -n '1,2p' "$OUT/$name/crash-summary.txt"; first=0; fi
  awk 'NR > 2 && NF == 0 { exit } NR > 2' "$OUT/$name/crash-summary.txt"
done
for name in "${runs[@]}"; do
  if grep -q '^corruption sweep' "$OUT/$name/crash-summary.txt"; then
    echo
    echo "== $name: detection per file type"
    awk '/^corruption sweep/ { on = 1; next } on && /^\|/ { print } on && NF == 0 { exit }' "$OUT/$name/crash-summary.txt"
  fi
done
echo
[ ${#informational[@]} -gt 0 ] && echo "informational runs (peers; their BROKEN rows do not set the exit status): ${informational[*]}"
[ $status -eq 0 ] && echo "every promise held; results in $OUT" || echo "SOMETHING BROKE; results in $OUT"
exit $status
