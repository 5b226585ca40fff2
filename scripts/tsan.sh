#!/usr/bin/env bash
# The engine and crash-lab tests under ThreadSanitizer (issue 14): a build with
# --sanitize=thread in its own scratch path, without jemalloc (ORBIT_NO_JEMALLOC: TSan brings its
# own allocator; a second one linked into the process aborts it at load), release mode with
# -enable-testing (the tests use @testable imports).
#
# Known limit (Swift 6.3.1 on Linux): ThreadSanitizer does not see Synchronization.Mutex's lock (a
# futex in the uninstrumented Synchronization module), so it reports accesses inside Mutex.withLock
# as races: a two-thread counter under Mutex.withLock is reported at -Onone, and on 2026-12-02 the
# reports read from a run were all inside withLock (FaultInjectingFileSystem state, lsm TableCache).
# Read a report only where one side is outside a Mutex. Not run by CI. Exit status: swift test's,
# or 1 when ThreadSanitizer warned.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
FILTER=${FILTER:-'LSMTreeTests|CowBTreeTests|EngineConformanceTests|CrashLabTests'}
export ORBIT_NO_JEMALLOC=1
export TSAN_OPTIONS=${TSAN_OPTIONS:-"halt_on_error=0 second_deadlock_stack=1 report_signal_unsafe=0"}
swift build --build-tests -c release -Xswiftc -enable-testing --sanitize=thread --scratch-path .build-tsan
swift test --skip-build -c release -Xswiftc -enable-testing --sanitize=thread --scratch-path .build-tsan --filter "$FILTER" 2>&1 | tee .build-tsan/tsan.log
status=${PIPESTATUS[0]}
races=$(grep -c "WARNING: ThreadSanitizer" .build-tsan/tsan.log || true)
echo "tsan.sh: $races ThreadSanitizer warning(s); swift test exit status $status (log: .build-tsan/tsan.log)"
[ "$races" = 0 ] || exit 1
exit "$status"
