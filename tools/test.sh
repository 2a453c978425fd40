#!/usr/bin/env bash
# The README's test command: installs OpenBLAS/LAPACKE if missing, fetches Silero VAD's ONNX
# files (the pinned wheel, sha256-checked) if missing, then runs the test suite (optimised
# build: the BLAS-vs-naive ratio check needs it; preconditions stay on).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/ensure-openblas.sh
source tools/ensure-silero.sh
swift test -c release "$@"
