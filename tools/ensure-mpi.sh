#!/usr/bin/env bash
# Makes sure Open MPI (headers, libraries, pkg-config file, mpirun) is installed, for the nested
# package Distributed/ only: the root package never needs MPI. Sourced by tools/dp_check.sh;
# installs with apt-get only when missing, and says so.
if command -v mpirun >/dev/null 2>&1 && command -v pkg-config >/dev/null 2>&1 \
  && pkg-config --exists ompi-c; then
  return 0 2>/dev/null || exit 0
fi
packages="libopenmpi-dev openmpi-bin"
command -v pkg-config >/dev/null 2>&1 || packages="$packages pkg-config"
echo "tensorlstm: Open MPI not found (mpirun, pkg-config ompi-c); installing: $packages" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $packages >&2
pkg-config --exists ompi-c && command -v mpirun >/dev/null 2>&1 || {
  echo "tensorlstm: Open MPI is still missing after installing $packages" >&2
  exit 1
}
