#!/usr/bin/env bash
# Makes sure OpenBLAS and LAPACKE (headers, libraries, pkg-config files) are installed.
# Sourced by tools/test.sh and tools/bench.sh; installs with apt-get only when missing.
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openblas lapacke; then
  return 0 2>/dev/null || exit 0
fi
packages="libopenblas-dev liblapacke-dev"
command -v pkg-config >/dev/null 2>&1 || packages="$packages pkg-config"
echo "tensorlstm: OpenBLAS/LAPACKE not found by pkg-config; installing: $packages" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $packages >&2
pkg-config --exists openblas lapacke || {
  echo "tensorlstm: pkg-config still cannot find openblas and lapacke" >&2
  exit 1
}
