#!/usr/bin/env bash
# Start a private GlusterFS server for tests: glusterd on 127.0.0.1:24007 with its state in DIR, and
# COUNT (default 1) single-brick volumes (bricks in DIR, names unique per run) started and online.
#
# usage: tests/services/gluster-up.sh DIR [COUNT]
# prints: the volume names, one a line (also in DIR/volumes)
# stop:   tests/services/gluster-down.sh DIR  (also after a failed start)
#
# glusterd is one per machine (port 24007, /var/run/glusterd.socket are fixed): when another one
# runs, this refuses instead of sharing or replacing it. The gluster CLI refuses 127.0.0.1 and
# localhost as brick host (a string check), so the brick is on this machine's name, which must
# resolve to a loopback address.
set -euo pipefail

die() { echo "gluster-up: $*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: gluster-up.sh DIR [COUNT]"
COUNT=${2:-1}
case "$COUNT" in [1-9]) ;; *) die "COUNT must be 1 to 9" ;; esac
mkdir -p "$1"
WORK="$(cd "$1" && pwd)"

command -v glusterd >/dev/null || die "glusterd not found: install glusterfs-server (scripts/install-deps.sh)"
if other=$(pgrep -x glusterd); then
  die "another glusterd is running (pid $(echo $other)); glusterd is one per machine, stop that one first"
fi

HOST=$(hostname)
case "$(getent ahostsv4 "$HOST" | awk 'NR==1{print $1}')" in
  127.*) ;;
  *) die "this machine's name '$HOST' does not resolve to a loopback address; the brick must stay local" ;;
esac

RUN="vp$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
VOLS=()
for i in $(seq 1 "$COUNT"); do VOLS+=("$RUN-$i"); done
printf '%s\n' "${VOLS[@]}" > "$WORK/volumes"
mkdir -p "$WORK/glusterd" "$WORK/log" /var/run/gluster /var/log/glusterfs
cat > "$WORK/glusterd.vol" <<VOLFILE
volume management
    type mgmt/glusterd
    option working-directory $WORK/glusterd
    option transport-type socket
    option transport.address-family inet
    option transport.socket.bind-address 127.0.0.1
    option transport.socket.listen-port 24007
    option transport.socket.read-fail-log off
    option ping-timeout 0
    option event-threads 1
    option max-port 60999
end-volume
VOLFILE

GL=(gluster --mode=script)
glusterd -f "$WORK/glusterd.vol" -p "$WORK/glusterd.pid" -l "$WORK/log/glusterd.log"

# Polls a condition, at most ~60 s, so a broken glusterd fails the start rather than hanging it.
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "$what did not happen (see $WORK/log/glusterd.log)"
}
wait_for "glusterd answering" "${GL[@]}" pool list

brick_online() { "${GL[@]}" volume status "$1" detail | grep -q '^Online.*: Y'; }
for VOL in "${VOLS[@]}"; do
  mkdir -p "$WORK/bricks/$VOL"
  "${GL[@]}" volume create "$VOL" "$HOST:$WORK/bricks/$VOL" force >/dev/null
  "${GL[@]}" volume set "$VOL" nfs.disable on >/dev/null
  "${GL[@]}" volume start "$VOL" >/dev/null
  wait_for "brick of $VOL online" brick_online "$VOL"
done
printf '%s\n' "${VOLS[@]}"
