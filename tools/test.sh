#!/usr/bin/env bash
# The README's test command: installs OpenBLAS/LAPACKE if missing, then runs the test suite
# (optimised build: the BLAS-vs-naive ratio check needs it; preconditions stay on).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/ensure-openblas.sh
swift test -c release "$@"
