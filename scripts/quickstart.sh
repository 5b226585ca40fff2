#!/usr/bin/env bash
# The main job on a fresh Debian machine with only the Swift toolchain: install the Debian packages,
# build in release, run the bundled write-heavy and read-heavy workloads on the five embedded engines
# (memory, the hand-written lsm and cow, rocksdb and lmdb) under durability none, then a short
# every-write run of write-heavy on the durable ones; print each table, draw the plots and write one
# report page (report.html) over all three runs. Results go to results/quickstart-<time>/.
#
# Extra arguments go to every `orbit-bench run`, e.g. `scripts/quickstart.sh --set operation_count=50000`.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
scripts/install-deps.sh
swift build -c release --product orbit-bench
bin=.build/release/orbit-bench
root=results/quickstart-$(date +%Y%m%d-%H%M%S)
embedded=(--backend memory --backend lsm --backend cow --backend rocksdb --backend lmdb)
durable=(--backend lsm --backend cow --backend rocksdb --backend lmdb)
for w in write-heavy read-heavy; do
  echo
  echo "== $w, durability none =="
  "$bin" run "workloads/$w.yaml" "${embedded[@]}" --set durability=none --plot --out "$root/$w" "$@"
done
echo
echo "== write-heavy, durability every-write (each write acknowledged after its sync; a short run) =="
"$bin" run workloads/write-heavy.yaml "${durable[@]}" --set durability=every-write --set record_count=10000 \
  --set operation_count=2000 --set warmup_ops=100 --plot --out "$root/every-write" "$@"
echo
"$bin" report "$root/write-heavy" "$root/read-heavy" "$root/every-write" --out "$root" > "$root/report.log"
echo "report: $root/report.html (tables, every plot and the environment on one page; report.md and report.csv beside it)"
echo "plots: $root/write-heavy/plots, $root/read-heavy/plots, $root/every-write/plots"
echo "quickstart took $(( $(date +%s) - started )) s"
