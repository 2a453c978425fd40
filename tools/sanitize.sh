#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer (with LeakSanitizer) and ThreadSanitizer, each an
# optimised build with its own scratch folder. Usage: tools/sanitize.sh [address|thread ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/ensure-openblas.sh
source tools/ensure-silero.sh
export LSAN_OPTIONS="suppressions=$PWD/tools/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="halt_on_error=1"
for sanitizer in "${@:-address thread}"; do
  for s in $sanitizer; do
    echo "== swift test --sanitize=$s"
    swift test -c release --sanitize="$s" --scratch-path ".build-$s"
  done
done
