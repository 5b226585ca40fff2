#!/usr/bin/env bash
# The engine and crash-lab tests under ThreadSanitizer (issue 14): a debug build with
# --sanitize=thread in its own scratch path, without jemalloc (ORBIT_NO_JEMALLOC: TSan brings its
# own allocator; a second one linked into the process aborts it at load). Release mode with
# -enable-testing (the tests use @testable imports): in a -Onone build ThreadSanitizer does not see
# Synchronization.Mutex's lock and reports every access inside withLock as a race (a two-thread
# Mutex counter shows it), so a debug TSan run is all false positives. Exit status: swift test's.
# FILTER picks the tests (default: the engine suites, the conformance suite and the crash lab).
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
