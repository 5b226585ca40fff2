#!/usr/bin/env bash
# The main job on a fresh Debian machine with only the Swift toolchain: install the Debian packages,
# build in release, run the bundled write-heavy and read-heavy workloads on the embedded engines
# (memory and rocksdb) and print the comparison table. Results go to results/<run-id>/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product orbit-bench
bin=.build/release/orbit-bench
for w in write-heavy read-heavy; do
  echo
  echo "== $w =="
  "$bin" run "workloads/$w.yaml" --backend memory --backend rocksdb "$@"
done
