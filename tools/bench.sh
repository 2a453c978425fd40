#!/usr/bin/env bash
# The README's main command: installs OpenBLAS/LAPACKE if missing, builds and runs
# tensorlstm-bench (flags are passed through, e.g. tools/bench.sh --threads 1 --json).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/ensure-openblas.sh
swift build -c release --package-path Benchmarks --product tensorlstm-bench >&2
"$(swift build -c release --package-path Benchmarks --show-bin-path)/tensorlstm-bench" "$@"
