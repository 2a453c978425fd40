#!/usr/bin/env bash
# apt_install WHAT PACKAGE…: installs Debian packages (with sudo when not root), saying why on
# standard error. Sourced by the tools/ensure-*.sh scripts, which check first.
apt_install() {
  local what="$1"
  shift
  local packages="$*"
  command -v pkg-config >/dev/null 2>&1 || packages="$packages pkg-config"
  echo "tensorlstm: $what not found; installing: $packages" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $packages >&2
}
