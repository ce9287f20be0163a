#!/usr/bin/env bash
# The main job on the embedded default: builds the CLI, then a `default` dir pool under the state
# folder (./.state unless VIRTPOOL_STATE_DIR is set), a volume created, and the pool's volumes listed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export VIRTPOOL_STATE_DIR=${VIRTPOOL_STATE_DIR:-$root/.state}
vp="$root/virtpool"
if ! "$vp" pool-info default >/dev/null 2>&1; then
  "$vp" pool-define-as default dir --target "$VIRTPOOL_STATE_DIR/images"
  "$vp" pool-build default
  "$vp" pool-autostart default
fi
"$vp" pool-info default | grep -q running || "$vp" pool-start default
vol="demo-$(date +%s).qcow2"
"$vp" vol-create-as default "$vol" 1G --format qcow2
"$vp" vol-list default --details
"$vp" pool-list --all --details
