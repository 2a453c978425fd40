#!/usr/bin/env bash
# Makes sure Open MPI (headers, libraries, pkg-config file, mpirun) is installed, for the nested
# package Distributed/ only: the root package never needs MPI. Sourced by tools/dp_check.sh;
# installs with apt-get only when missing, and says so.
if command -v mpirun >/dev/null 2>&1 && command -v pkg-config >/dev/null 2>&1 \
  && pkg-config --exists ompi-c; then
  return 0 2>/dev/null || exit 0
fi
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
apt_install "Open MPI (mpirun, pkg-config ompi-c)" libopenmpi-dev openmpi-bin
pkg-config --exists ompi-c && command -v mpirun >/dev/null 2>&1 || {
  echo "tensorlstm: Open MPI is still missing after installing libopenmpi-dev openmpi-bin" >&2
  exit 1
}
