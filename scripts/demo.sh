#!/usr/bin/env bash
# The main job on the embedded default, step by step: builds the CLI (NativeAOT; the first build takes
# a minute or two), then a `default` dir pool under the state folder (./.state unless
# VIRTPOOL_STATE_DIR is set), a volume created, and the pool's volumes listed. No root, no daemon.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export VIRTPOOL_STATE_DIR=${VIRTPOOL_STATE_DIR:-$root/.state}
vp="$root/virtpool"
say() { printf '\n== %s\n' "$*"; }
run() { printf '$ virtpool %s\n' "$*"; "$vp" "$@"; }

if ! command -v dotnet >/dev/null; then
  echo "demo: the .NET 10 SDK (see global.json) is needed to build VirtPool; Debian does not package it: install it from Microsoft" >&2
  exit 1
fi
# A fresh machine lacks the linker NativeAOT needs: as root, install it; otherwise say how.
if ! command -v clang >/dev/null || ! dpkg -s zlib1g-dev >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    say "Installing what the NativeAOT build needs (clang, zlib1g-dev)"
    "$root/scripts/install-deps.sh" build
  else
    echo "demo: building needs clang and zlib1g-dev: run ./scripts/install-deps.sh build as root (or this demo as root once)" >&2
    exit 1
  fi
fi
if [ -x "$root/artifacts/cli/virtpool" ]; then
  say "Building the CLI if its sources changed (./virtpool does this on every run)"
else
  say "Building the NativeAOT CLI into artifacts/cli (first time: ~1-2 min)"
fi
if ! "$vp" --version >/dev/null; then
  echo "demo: the build failed (see above)" >&2
  exit 1
fi
"$vp" -V

say "A dir pool 'default' in $VIRTPOOL_STATE_DIR/images (embedded: state in $VIRTPOOL_STATE_DIR)"
if ! "$vp" pool-info default >/dev/null 2>&1; then
  run pool-define-as default dir --target "$VIRTPOOL_STATE_DIR/images"
  run pool-build default
  run pool-autostart default
fi
"$vp" pool-info default | grep -q running || run pool-start default

say "A volume, then the pool's volumes and the pools"
run vol-create-as default "demo-$(date +%s).qcow2" 1G --format qcow2
run vol-list default --details
run pool-list --all --details
