#!/usr/bin/env bash
# The engine and crash-lab tests under ThreadSanitizer (issue 14): a build with
# --sanitize=thread in its own scratch path, without jemalloc (ORBIT_NO_JEMALLOC: TSan brings its
# own allocator; a second one linked into the process aborts it at load), release mode with
# -enable-testing (the tests use @testable imports).
#
# Locks: every engine, the file layer, the harness and the crash lab lock with OrbitCore's Lock
# (a pthread_mutex_t, which ThreadSanitizer intercepts), not Synchronization.Mutex: with Swift 6.3.1
# on Linux, Mutex is a futex in the uninstrumented standard library, TSan does not see it, and the
# run before the switch reported ~8,000 races, all inside Mutex.withLock. Known limit: code that
# still uses Mutex, or a libdispatch semaphore to order threads, is reported the same way (read a
# report whose stack is inside Mutex.withLock or DispatchSemaphore as that).
#
# Copy-on-write hand-offs: a reader drops its reference (an atomic release in the uninstrumented
# libswiftCore), the writer finds the object uniquely referenced and changes it in place. Real
# happens-before edges TSan cannot see; they are stated to it with OrbitCore's `TSan.release` /
# `TSan.acquire` (__tsan_release/__tsan_acquire, compiled only with -DORBIT_TSAN, which this script
# passes; empty elsewhere): cow readers release their Version at the end of get/scan and the writer
# acquires it where applyAndPublish changes pages in place; lsm readers release their copy of the
# immutable-memtable array and every change to it acquires it. No suppressions file.
#
# Processes: every process writes its reports to .build-tsan/tsan-reports/report.<pid> (log_path),
# so the orbit-bench children the crash-lab tests run are counted too (they were not before: the
# tests capture their stderr). A child that warns exits 66 and its test fails as well.
# die_after_fork=0: the corruption, file-damage and concurrent-open probes fork the multi-threaded
# process and run the check on a thread started in the child (ProbeIsolation); TSan's default is
# to kill such a child ("starting new threads after multi-threaded fork is not supported"), which
# the sweeps recorded as crashed opens. With the flag the child runs the real check; TSan's state
# in it is consistent (it holds its own locks across fork), only the parent's other threads are
# gone, as for any forked child. A report file may also hold a deadly-signal report ("ERROR:
# ThreadSanitizer: BUS"): LMDB faulting on a damaged data.mdb in a file-damage probe child, which
# that sweep records for the record (lmdb is not gated); those are not warnings.
#
# Exit status: swift test's, or 1 when ThreadSanitizer warned in any process. Not run by CI: a
# clean build (release + TSan, ~11.5 min here) and the tests (~4 min) take 15-16 min on this
# 2-core machine, and CI's own debug build and suite about 14 (7m46 + 6m21, measured the same
# day): together past the 30-minute budget. Run it before resolving a concurrency change.
#
# Triage of the 2026-12-02 runs. Before (7b6d373): 26 warnings in the test process (children not
# counted) and 12 issues in 7 tests seen only under TSan. After: 0 warnings in every process, 287
# tests pass. CorruptionSweepTests stays skipped (SKIP= runs it): with die_after_fork=0 its forked
# probes run, but the suite (120 probes per engine, a fork each) did not finish in 15 minutes.
# - cow, 18: the page hand-off above (reader get/scan vs TreeWriter's in-place setChild and slot
#   writes): annotated.
# - lsm, 5: imms (reader get/scan/stats vs the flush's removeFirst): annotated.
# - fault injector, 3: powerLoss copied the state under the lock and read it after unlocking, while
#   engine threads changed the live state in place (the same hand-off): fixed, the image is now
#   taken under the lock.
# - crash lab, 2 per resource-limits run (in the crash process): a real race, ResourceLimitsSweep
#   polled Foundation's Thread.isFinished (a plain field read) for its stderr thread: fixed,
#   OrbitThread + join.
# Failures: ConcurrentOpenSweepTests (lsm, cow, peers) and FileDamageSweepTests (lsm, cow, cow live
# segments): every forked probe child died under TSan (exit 66, "crashed open"): TSan's fork
# limit, die_after_fork=0. ResourceLimitsSweepTests lsm: the grow child exited 66 on the lsm imms
# report (fixed with it). cow PowerLossTests.tornNewestMetaFallsBackAndReplaysTheWAL: a test that
# depended on timing — when the writer finished the background checkpoint at the very next
# commit (TSan's timing), no WAL record followed the checkpoint and open rightly refused the
# damaged durable meta page; the test now holds the checkpoint on its queue until later commits
# are logged. Known, not reported: cow's ChildList chunks are shared between a page and its copy
# and changed in place when unique (the same hand-off, unannotated; it reported nothing here).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
FILTER=${FILTER:-'LSMTreeTests|CowBTreeTests|EngineConformanceTests|CrashLabTests'}
SKIP=${SKIP-'CorruptionSweepTests'}
export ORBIT_NO_JEMALLOC=1
reports="$PWD/.build-tsan/tsan-reports"
# log_path: every process's reports go to $reports/report.<pid> — the test process's and those of
# the orbit-bench children the crash-lab tests start (whose stderr the tests capture, so their
# reports were never counted before). die_after_fork=0: see the header.
export TSAN_OPTIONS=${TSAN_OPTIONS:-"halt_on_error=0 second_deadlock_stack=1 report_signal_unsafe=0 die_after_fork=0 log_path=$reports/report"}
swift build --build-tests -c release -Xswiftc -enable-testing -Xswiftc -DORBIT_TSAN --sanitize=thread --scratch-path .build-tsan
rm -rf "$reports"
mkdir -p "$reports"
status=0
swift test --skip-build -c release -Xswiftc -enable-testing -Xswiftc -DORBIT_TSAN --sanitize=thread --scratch-path .build-tsan \
  --filter "$FILTER" ${SKIP:+--skip "$SKIP"} > .build-tsan/tsan.log 2>&1 || status=$?
tail -n 5 .build-tsan/tsan.log
races=$(cat "$reports"/report.* 2>/dev/null | grep -c "WARNING: ThreadSanitizer" || true)
if [ "$races" != 0 ]; then
  echo "tsan.sh: ThreadSanitizer warnings by process ($reports):"
  grep -c "WARNING: ThreadSanitizer" "$reports"/report.* | grep -v ':0$' || true
  cat "$reports"/report.* | grep "^SUMMARY: ThreadSanitizer" | sort | uniq -c | sort -rn | head -20
fi
signals=$(cat "$reports"/report.* 2>/dev/null | grep -c "ERROR: ThreadSanitizer: [A-Z]* on" || true)
[ "$signals" = 0 ] || echo "tsan.sh: $signals deadly-signal report(s) (see the header: LMDB probe children), not counted as warnings"
echo "tsan.sh: $races ThreadSanitizer warning(s); swift test exit status $status (log: .build-tsan/tsan.log)"
[ "$races" = 0 ] || exit 1
exit "$status"
