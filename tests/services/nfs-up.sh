#!/usr/bin/env bash
# Start a private NFS server for tests in a network namespace of its own: rpcbind (portmapper on TCP
# 111, which showmount needs) and nfs-ganesha (FSAL VFS) exporting DIR/export as "/export" (NFSv3 and
# v4, TCP only). The namespace has only its loopback interface, so nothing it serves is reachable from
# outside it, and several runs never meet: a test runs the command under test in it with
#     nsenter --net=/run/netns/NAME -- COMMAND...
# (daemons started that way serve their unix sockets to the whole machine, their children stay inside).
#
# usage: tests/services/nfs-up.sh DIR [nfs|bare]
#   nfs  (default) rpcbind + ganesha, ready when showmount inside lists /export
#   bare the namespace only (loopback up), for servers a test adds itself (gluster-up.sh run with
#        nsenter) or for "no server on this host"
# prints: the namespace's path (/run/netns/NAME; also in DIR/netns)
# stop:   tests/services/nfs-down.sh DIR  (also after a failed start)
#
# No machine-wide lock is needed: ports, /run (a tmpfs private to rpcbind and ganesha: rpcbind's
# /run/rpcbind.sock is otherwise one per machine) and ganesha's recovery folder are all per run.
set -euo pipefail

die() {
  echo "nfs-up: $*" >&2
  for log in "${WORK:-}/log/ganesha.log" "${WORK:-}/log/rpcbind.log"; do
    [ -s "$log" ] && { echo "--- $log (tail)" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: nfs-up.sh DIR [nfs|bare]"
MODE=${2:-nfs}
case "$MODE" in nfs|bare) ;; *) die "MODE must be nfs or bare" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for tool in ip nsenter unshare; do command -v "$tool" >/dev/null || die "$tool not found (iproute2, util-linux)"; done
if [ "$MODE" = nfs ]; then
  command -v rpcbind >/dev/null || die "rpcbind not found: install rpcbind (scripts/install-deps.sh)"
  command -v ganesha.nfsd >/dev/null || die "ganesha.nfsd not found: install nfs-ganesha nfs-ganesha-vfs (scripts/install-deps.sh)"
  command -v showmount >/dev/null || die "showmount not found: install nfs-common (scripts/install-deps.sh)"
fi
mkdir -p "$1"
WORK="$(cd "$1" && pwd)"
[ ! -e "$WORK/netns" ] || die "$WORK already holds a namespace ($(cat "$WORK/netns")): run nfs-down.sh first"

NAME="vpnfs-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
NETNS=/run/netns/$NAME
mkdir -p "$WORK/log"
ip netns add "$NAME"
# Recorded at once, so nfs-down.sh finds the namespace whatever fails from here on.
echo "$NETNS" > "$WORK/netns"
in_ns() { nsenter --net="$NETNS" -- "$@"; }
in_ns ip link set lo up
# glibc's getaddrinfo (AI_ADDRCONFIG) finds no IPv4 when 127.0.0.1 is the only address, and then even
# "127.0.0.1" does not resolve (ganesha: "No IP address found for 127.0.0.1"); a second loopback
# address makes the namespace resolve like a host with a network.
in_ns ip addr add 127.0.0.2/32 dev lo

if [ "$MODE" = nfs ]; then
  mkdir -p "$WORK/export" "$WORK/recov"
  cat > "$WORK/ganesha.conf" <<EOF
NFS_CORE_PARAM {
    Bind_addr = 127.0.0.1;
    NFS_Port = 2049;
    MNT_Port = 20048;
    Protocols = 3, 4;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
    # NFSv3 MNT uses the pseudo path too
    Mount_Path_Pseudo = true;
}
NFSV4 {
    Graceless = true;
    RecoveryBackend = fs;
    RecoveryRoot = "$WORK/recov";
}
EXPORT {
    Export_Id = 1;
    Path = "$WORK/export";
    Pseudo = "/export";
    Protocols = 3, 4;
    Transports = TCP;
    Access_Type = RW;
    Squash = No_Root_Squash;
    FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
EOF
  # rpcbind and ganesha share a mount namespace with a private /run (ganesha registers through
  # rpcbind's unix socket there); setsid: they must not die with the caller's process group.
  cat > "$WORK/start-servers.sh" <<EOF
#!/bin/sh
set -e
mount -t tmpfs -o mode=0755 vpnfs-run /run
mkdir -p /run/ganesha /run/rpcbind
setsid rpcbind -f >> "$WORK/log/rpcbind.log" 2>&1 < /dev/null &
echo \$! > "$WORK/rpcbind.pid"
for _ in \$(seq 1 300); do [ -S /run/rpcbind.sock ] && break; sleep 0.1; done
[ -S /run/rpcbind.sock ] || { echo "rpcbind did not create /run/rpcbind.sock" >&2; exit 1; }
exec setsid ganesha.nfsd -f "$WORK/ganesha.conf" -L "$WORK/log/ganesha.log" -p "$WORK/ganesha.pid" -N NIV_EVENT < /dev/null
EOF
  chmod +x "$WORK/start-servers.sh"
  in_ns unshare --mount --propagation private "$WORK/start-servers.sh" || die "rpcbind or ganesha did not start"

  # Ready when showmount, as libvirt runs it, lists the export; ~60 s at most, then fail loudly.
  exports=""
  for _ in $(seq 1 300); do
    exports=$(in_ns showmount --no-headers --exports 127.0.0.1 2>/dev/null || true)
    case "$exports" in /export\ *) break ;; esac
    sleep 0.2
  done
  case "$exports" in /export\ *) ;; *) die "showmount in $NETNS did not list /export (last answer: '$exports')" ;; esac
fi
echo "$NETNS"
