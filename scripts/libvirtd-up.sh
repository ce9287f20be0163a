#!/usr/bin/env bash
# Starts a private libvirtd (the oracle for differential tests and the baseline for bench/) without
# systemd. Usage: scripts/libvirtd-up.sh DIR  -> prints the URI; socket, pid and log live in DIR.
# The daemon runs in its own mount namespace with private /run/libvirt, /etc/libvirt/{storage,secrets}
# and /var/lib/libvirt, so several instances (and a system libvirtd) never share state or pid files.
# It listens on a unix socket in DIR only (no TCP).
set -euo pipefail
dir=${1:?usage: libvirtd-up.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
uri="qemu+unix:///system?socket=$dir/libvirt-sock"
if [ -f "$dir/libvirtd.pid" ] && kill -0 "$(cat "$dir/libvirtd.pid")" 2>/dev/null; then
  echo "$uri"
  exit 0
fi
mkdir -p "$dir/etc-storage" "$dir/etc-secrets" "$dir/var-lib" "$dir/run"
cat > "$dir/libvirtd.conf" <<CONF
listen_tls = 0
listen_tcp = 0
unix_sock_dir = "$dir"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$dir/libvirtd.log"
CONF
cat > "$dir/start-in-namespace.sh" <<NS
#!/bin/sh
set -e
mount --bind "$dir/run" /run/libvirt 2>/dev/null || { mkdir -p /run/libvirt; mount --bind "$dir/run" /run/libvirt; }
mkdir -p /etc/libvirt/storage /etc/libvirt/secrets /var/lib/libvirt
mount --bind "$dir/etc-storage" /etc/libvirt/storage
mount --bind "$dir/etc-secrets" /etc/libvirt/secrets
mount --bind "$dir/var-lib" /var/lib/libvirt
exec /usr/sbin/libvirtd --daemon --config "$dir/libvirtd.conf" --pid-file "$dir/libvirtd.pid"
NS
chmod +x "$dir/start-in-namespace.sh"
for attempt in 1 2 3; do
  rm -f "$dir/libvirt-sock" "$dir/libvirtd.pid"
  # slave propagation: mounts made on the host later (test and bench filesystems) reach the daemon;
  # the daemon's own bind mounts stay inside its namespace.
  unshare --mount --propagation slave "$dir/start-in-namespace.sh"
  for _ in $(seq 1 100); do
    if [ -S "$dir/libvirt-sock" ] && virsh -c "$uri" pool-capabilities >/dev/null 2>&1; then
      echo "$uri"
      exit 0
    fi
    sleep 0.1
  done
  echo "libvirtd did not answer (attempt $attempt); log:" >&2
  tail -n 20 "$dir/libvirtd.log" >&2 || true
  [ -f "$dir/libvirtd.pid" ] && kill "$(cat "$dir/libvirtd.pid")" 2>/dev/null || true
  sleep 1
done
echo "libvirtd failed to start" >&2
exit 1
