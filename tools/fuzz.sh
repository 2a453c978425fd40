#!/usr/bin/env bash
# Builds and runs the libFuzzer targets for the file parsers (safetensors, npy) under
# AddressSanitizer. Usage: tools/fuzz.sh [runs per target, default 1000000] [target ...]
# Seeds: Tests/Fuzz/corpus/<target>/ (committed); new inputs go to .build-fuzz/corpus/<target>.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/ensure-openblas.sh
runs="${1:-1000000}"
shift || true
targets=("${@:-safetensors npy}")
read -r -a targets <<< "${targets[*]}"
mkdir -p .build-fuzz
sources=$(find Sources/TensorLSTM -name '*.swift')
for target in "${targets[@]}"; do
  case "$target" in
    safetensors) entry=Tests/Fuzz/SafeTensorsFuzz.swift ;;
    npy) entry=Tests/Fuzz/NumPyFuzz.swift ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
  binary=".build-fuzz/fuzz-$target"
  echo "== building $binary" >&2
  swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name TensorLSTM \
    -I CBLASShim $(pkg-config --cflags-only-I openblas | sed 's/-I/-Xcc -I/g') \
    $(pkg-config --libs openblas lapacke) $sources "$entry" -o "$binary"
  mkdir -p ".build-fuzz/corpus/$target"
  echo "== fuzzing $target for $runs runs" >&2
  status=0
  "$binary" -runs="$runs" -max_len=4096 -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -artifact_prefix=.build-fuzz/ -print_final_stats=1 \
    ".build-fuzz/corpus/$target" "Tests/Fuzz/corpus/$target" > ".build-fuzz/$target.log" 2>&1 \
    || status=$?
  grep -E "stat::number_of_executed_units|^Done|ERROR|SUMMARY|artifact" ".build-fuzz/$target.log"
  if [ "$status" -ne 0 ]; then
    echo "fuzz-$target failed (exit $status); see .build-fuzz/$target.log" >&2
    exit "$status"
  fi
done
