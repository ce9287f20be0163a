#!/usr/bin/env bash
# srcSpec files virsh refuses cleanly, through virtpool (embedded): /dev/zero (unbounded read:
# OutOfMemoryException after ~4 GiB RSS, exit 134), a directory, a file over 10 MiB.
# Usage: srcspec_file_cli.sh [VIRTPOOL]   (compare with: virsh -c URI find-storage-pool-sources ...)
set -u
v=${1:-$(dirname "$0")/../../artifacts/cli/virtpool}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export VIRTPOOL_STATE_DIR=$tmp/state
mkdir "$tmp/adir"; head -c 20000000 /dev/zero > "$tmp/big.xml"
for spec in /dev/zero "$tmp/adir" "$tmp/big.xml"; do
  echo "== $spec"
  /usr/bin/time -f "maxrss=%MkB" timeout 120 "$v" find-storage-pool-sources logical "$spec" 2>&1 | head -3
  echo "exit=${PIPESTATUS[0]}"
done
