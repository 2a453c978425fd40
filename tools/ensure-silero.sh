#!/usr/bin/env bash
# Fetches Silero VAD's ONNX files (MIT license) from the pinned silero-vad wheel on PyPI into
# .build/models/silero_vad/data/, checking the wheel's sha256; does nothing when they are there.
# Needs pip (python3 -m pip) and network access to PyPI only the first time.
# Usage: source tools/ensure-silero.sh   (sets SILERO_DIR) or bash tools/ensure-silero.sh
set -euo pipefail
silero_version=6.2.3
silero_sha256=7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SILERO_DIR="$root/.build/models/silero_vad/data"
export SILERO_DIR
if [ ! -f "$SILERO_DIR/silero_vad_16k_op15.onnx" ]; then
  echo "== fetching silero-vad $silero_version from PyPI (its ONNX models, for the tests and tensorlstm-vad)" >&2
  scratch="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: "silero-vad==$silero_version" -d "$scratch" >&2
  wheel="$scratch/silero_vad-$silero_version-py3-none-any.whl"
  echo "$silero_sha256  $wheel" | sha256sum --check --quiet - || {
    echo "silero-vad wheel: sha256 mismatch; refusing to use it" >&2
    exit 1
  }
  mkdir -p "$root/.build/models"
  python3 -m zipfile -e "$wheel" "$scratch/x"
  rm -rf "$root/.build/models/silero_vad"
  cp -r "$scratch/x/silero_vad" "$root/.build/models/silero_vad"
  rm -rf "$scratch"
fi
