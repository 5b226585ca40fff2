#!/usr/bin/env bash
# The test command (README, .ci/run): installs the Debian packages, builds, runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
