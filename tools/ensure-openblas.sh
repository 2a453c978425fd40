#!/usr/bin/env bash
# Makes sure OpenBLAS and LAPACKE (headers, libraries, pkg-config files) are installed.
# Sourced by tools/test.sh and tools/bench.sh; installs with apt-get only when missing.
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openblas lapacke; then
  return 0 2>/dev/null || exit 0
fi
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
apt_install "OpenBLAS/LAPACKE (pkg-config openblas lapacke)" libopenblas-dev liblapacke-dev
pkg-config --exists openblas lapacke || {
  echo "tensorlstm: pkg-config still cannot find openblas and lapacke" >&2
  exit 1
}
