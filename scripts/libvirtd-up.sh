#!/usr/bin/env bash
# Starts a private libvirtd (the oracle for differential tests and the baseline for bench/) without
# systemd. Usage: scripts/libvirtd-up.sh DIR  -> prints the URI; sockets, pid and log live in DIR.
# It listens on a unix socket in DIR only (no TCP), so several runs never collide with a system libvirtd.
set -euo pipefail
dir=${1:?usage: libvirtd-up.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -f "$dir/libvirtd.pid" ] && kill -0 "$(cat "$dir/libvirtd.pid")" 2>/dev/null; then
  echo "qemu+unix:///system?socket=$dir/libvirt-sock"
  exit 0
fi
cat > "$dir/libvirtd.conf" <<CONF
listen_tls = 0
listen_tcp = 0
unix_sock_dir = "$dir"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$dir/libvirtd.log"
CONF
uri="qemu+unix:///system?socket=$dir/libvirt-sock"
for attempt in 1 2 3; do
  rm -f "$dir/libvirt-sock" "$dir/libvirtd.pid"
  /usr/sbin/libvirtd --daemon --config "$dir/libvirtd.conf" --pid-file "$dir/libvirtd.pid"
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
