#!/bin/bash
# The README's second command: installs what is missing, builds, and runs the whole
# suite (unit tests, then integration tests that boot real VMs and drive containerd).
# Extra arguments filter tests by name: ./test.sh run_errors
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
make -j"$(nproc)" all unit-test
exec tests/run.sh "$@"
