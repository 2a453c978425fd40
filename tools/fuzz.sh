#!/usr/bin/env bash
# Builds the libFuzzer targets from the nested package Tests/Fuzz (which depends on this one, so
# a new module or a changed API breaks the build at once) under AddressSanitizer, then runs each
# for a fixed time. Usage: tools/fuzz.sh [seconds per target, default 300] [target ...]
# Targets: safetensors, npy (the file parsers), interop (Keras/ONNX converters and
# loadStateDict with random shapes and values) and optimizer (Adam/AdamW checkpoints and SGD
# momentum with random names, shapes and step values), onnx (the ONNX reader and executor: load,
# then run on inputs from the declared shapes) and wav (the WAV reader and resampler). Seeds: Tests/Fuzz/corpus/<target>/ (committed);
# new inputs go to .build-fuzz/corpus/<target>. .ci/run runs every target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/ensure-openblas.sh
seconds="${1:-300}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then targets=(safetensors npy interop optimizer onnx wav); fi
mkdir -p .build-fuzz
echo "== building the fuzz targets (Tests/Fuzz, -sanitize=fuzzer,address)" >&2
swift build -c release --package-path Tests/Fuzz --sanitize=fuzzer --sanitize=address \
  > .build-fuzz/build.log 2>&1 || { tail -30 .build-fuzz/build.log >&2; exit 1; }
bin=$(swift build -c release --package-path Tests/Fuzz --sanitize=fuzzer --sanitize=address \
  --show-bin-path)
for target in "${targets[@]}"; do
  mkdir -p ".build-fuzz/corpus/$target"
  echo "== fuzzing $target for ${seconds}s" >&2
  status=0
  # The Swift runtime's crash handler and ASan's both want the fatal signal; ASan reports.
  # One allocation may reach the library's per-tensor limit (2^28 floats, 1 GiB: a Conv or Pad
  # whose attributes ask for that much is allowed to), so the fuzzer's malloc limit sits just
  # above it: anything bigger is a missing check.
  SWIFT_BACKTRACE=enable=no "$bin/fuzz-$target" -max_total_time="$seconds" -max_len=4096 \
    -rss_limit_mb=3072 -malloc_limit_mb=1100 -artifact_prefix=.build-fuzz/ -print_final_stats=1 \
    ".build-fuzz/corpus/$target" "Tests/Fuzz/corpus/$target" > ".build-fuzz/$target.log" 2>&1 \
    || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' ".build-fuzz/$target.log")
  echo "fuzz-$target: ${runs:-?} executions in ${seconds}s, exit $status"
  if [ "$status" -ne 0 ]; then
    grep -E "Fatal error|ERROR|SUMMARY|artifact" ".build-fuzz/$target.log" | head -5 >&2
    echo "fuzz-$target found a crash; see .build-fuzz/$target.log" >&2
    exit "$status"
  fi
done
