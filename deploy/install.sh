#!/usr/bin/env bash
# Installs VirtPool from this checkout (as root): builds the NativeAOT binaries through ./virtpool and
# ./virtpoold, then puts them in /usr/local/bin, the systemd unit in /etc/systemd/system and the README
# (the unit's Documentation=) in /usr/local/share/doc/virtpool. DESTDIR=DIR installs under DIR instead
# (for packaging). Then: systemctl enable --now virtpoold
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${DESTDIR:-}
echo "install: building the CLI and the daemon (first time: a few minutes)..."
"$root/virtpool" --version >/dev/null
"$root/virtpoold" --help >/dev/null
install -D -m 0755 "$root/artifacts/cli/virtpool" "$dest/usr/local/bin/virtpool"
install -D -m 0755 "$root/artifacts/daemon/virtpoold" "$dest/usr/local/bin/virtpoold"
install -D -m 0644 "$root/deploy/virtpoold.service" "$dest/etc/systemd/system/virtpoold.service"
install -D -m 0644 "$root/README.md" "$dest/usr/local/share/doc/virtpool/README.md"
install -D -m 0644 "$root/docs/architecture.md" "$dest/usr/local/share/doc/virtpool/architecture.md"
echo "install: virtpool and virtpoold in $dest/usr/local/bin, virtpoold.service in $dest/etc/systemd/system, docs in $dest/usr/local/share/doc/virtpool"
if [ -z "$dest" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "install: start it with: systemctl enable --now virtpoold"
fi
