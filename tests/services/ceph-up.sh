#!/usr/bin/env bash
# Start a private single-node Ceph for tests: one mon and one memstore OSD (no mgr), 127.0.0.1 only,
# cephx on, a pool "rbd" (size 1, rbd application) and a cephx user client.libvirt with
# 'profile rbd' on that pool. All state, logs, keyrings and pid files live in DIR.
#
# usage: tests/services/ceph-up.sh DIR [MON_PORT]
#   MON_PORT (default 3300): the mon's msgr v2 port, the one a client names ("127.0.0.1:MON_PORT");
#   the mon's msgr v1 port is MON_PORT+1, the OSD binds in MON_PORT+2 … MON_PORT+31.
#   (A client given an address with a port other than 6789 speaks v2 first: were MON_PORT the v1
#   port, every client would log a "peer … is using msgr V1 protocol" error line before falling back.)
#   CEPH_MEMSTORE_BYTES (default 4 GiB): the OSD's RAM store size (what the cluster reports as capacity).
# writes: DIR/ceph.conf          admin configuration (client.admin by default; --id libvirt works too)
#         DIR/client.libvirt.key client.libvirt's key, base64, as `ceph auth get-key` prints it
#         DIR/ceph.client.{admin,libvirt}.keyring, DIR/run/ceph-{mon.a,osd.0}.pid, DIR/log/
# exit:   0 up and answering; 3 MON_PORT or MON_PORT+1 is taken by another process (pick other ports);
#         1 anything else (after 3 attempts), with the logs' tails on stderr.
# stop:   tests/services/ceph-down.sh DIR  (also after a failed start)
#
# memstore keeps the data in the OSD's memory: a restarted OSD is empty. Never restart the OSD alone;
# to simulate an unreachable OSD, stop it with SIGSTOP and resume it with SIGCONT.
set -euo pipefail

die() { echo "ceph-up: $*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: ceph-up.sh DIR [MON_PORT]"
MON_PORT=${2:-3300}
case "$MON_PORT" in *[!0-9]*|'') die "MON_PORT must be a number" ;; esac
[ "$MON_PORT" -ge 1024 ] && [ "$MON_PORT" -le 65000 ] || die "MON_PORT must be in 1024…65000"
MON_V1_PORT=$((MON_PORT + 1))
OSD_PORT_MIN=$((MON_PORT + 2))
OSD_PORT_MAX=$((MON_PORT + 31))
MEMSTORE_BYTES=${CEPH_MEMSTORE_BYTES:-4294967296}

for tool in ceph-mon ceph-osd ceph-authtool monmaptool ceph rbd uuidgen; do
  command -v "$tool" >/dev/null || die "$tool not found: install ceph-mon ceph-osd ceph-common uuid-runtime (scripts/install-deps.sh)"
done

mkdir -p "$1"
WORK="$(cd "$1" && pwd)"
CONF="$WORK/ceph.conf"

port_taken() { ss -Hltn "sport = :$1" | grep -q .; }
for port in "$MON_PORT" "$MON_V1_PORT"; do
  if port_taken "$port"; then
    echo "ceph-up: port $port is taken by another process" >&2
    exit 3
  fi
done

# Every wait is bounded, so a broken cluster fails the start rather than hanging it.
wait_for() {  # SECONDS WHAT COMMAND...
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  while [ $SECONDS -lt $deadline ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.3
  done
  echo "ceph-up: $what did not happen within ${seconds}s" >&2
  return 1
}

# The processes of this DIR only: the daemons' pid files, checked against their command line (a
# recycled pid is someone else's), and any ceph daemon whose command line names this DIR's conf (one
# that died before writing its pid file is not left behind).
own_pids() {
  local cmdline pid
  for cmdline in /proc/[0-9]*/cmdline; do
    pid=${cmdline#/proc/}; pid=${pid%/cmdline}
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in ceph-mon|ceph-osd) ;; *) continue ;; esac
    tr '\0' ' ' < "$cmdline" 2>/dev/null | grep -qF -- "$CONF" && echo "$pid"
  done
  return 0
}

stop_own() {
  local pids
  mapfile -t pids < <(own_pids)
  [ ${#pids[@]} -eq 0 ] && return 0
  kill -CONT "${pids[@]}" 2>/dev/null || true
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

show_logs() {
  local log
  for log in "$WORK"/log/*.log; do
    [ -f "$log" ] || continue
    echo "--- tail of $log" >&2
    tail -n 15 "$log" >&2
  done
}

CEPH=(ceph --conf "$CONF" --connect-timeout 10)
# The readiness probe and the setup calls must not wait forever on a PG that never goes active.
RBD=(timeout 20 rbd --conf "$CONF")

start_cluster() {
  local fsid osd_uuid
  rm -rf "$WORK/mon" "$WORK/osd" "$WORK/run" "$WORK/log" "$WORK"/*.keyring "$WORK/monmap" "$WORK/client.libvirt.key"
  mkdir -p "$WORK/run" "$WORK/log" "$WORK/mon/ceph-a" "$WORK/osd/ceph-0"
  fsid=$(uuidgen)
  # The keyring line is under [client]: under [global] the mon would read it too and fail to authenticate.
  cat > "$CONF" <<EOF
[global]
fsid = $fsid
mon initial members = a
mon host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]
public network = 127.0.0.0/8
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = $OSD_PORT_MIN
ms bind port max = $OSD_PORT_MAX
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
run dir = $WORK/run
admin socket = $WORK/run/\$cluster-\$name.asok
pid file = $WORK/run/\$cluster-\$name.pid
log file = $WORK/log/\$cluster-\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
mon max pg per osd = 1000
[client]
keyring = $WORK/\$cluster.\$name.keyring
# No admin socket for clients: several rbd commands at once would fight over one path.
admin socket =
[mon]
mon data = $WORK/mon/\$cluster-\$id
[osd]
osd data = $WORK/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd max object name len = 256
osd max object namespace len = 64
EOF
  ceph-authtool --create-keyring "$WORK/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$WORK/ceph.client.admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$WORK/mon.keyring" --import-keyring "$WORK/ceph.client.admin.keyring" >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]" "$WORK/monmap" >/dev/null
  ceph-mon --conf "$CONF" --mkfs -i a --monmap "$WORK/monmap" --keyring "$WORK/mon.keyring" >>"$WORK/log/mkfs.log" 2>&1
  ceph-mon --conf "$CONF" -i a >>"$WORK/log/start.log" 2>&1
  wait_for 30 "the mon answering on 127.0.0.1:$MON_PORT" "${CEPH[@]}" mon stat || return 1

  # The OSD's key must exist before its mkfs, which fetches its configuration from the mon.
  osd_uuid=$(uuidgen)
  "${CEPH[@]}" auth get-or-create osd.0 osd 'allow *' mon 'allow profile osd' -o "$WORK/osd/ceph-0/keyring" >/dev/null
  "${CEPH[@]}" osd new "$osd_uuid" 0 >/dev/null
  ceph-osd --conf "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$WORK/log/mkfs.log" 2>&1
  ceph-osd --conf "$CONF" -i 0 >>"$WORK/log/start.log" 2>&1
  osd_up() { [ "$("${CEPH[@]}" osd stat -f json | python3 -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])')" = 1 ]; }
  wait_for 60 "osd.0 up" osd_up || return 1

  "${CEPH[@]}" osd pool create rbd 8 8 >/dev/null 2>&1
  "${CEPH[@]}" osd pool set rbd size 1 --yes-i-really-mean-it >/dev/null 2>&1
  wait_for 60 "rbd pool init" "${RBD[@]}" pool init rbd || return 1
  "${CEPH[@]}" auth get-or-create client.libvirt mon 'profile rbd' osd 'profile rbd pool=rbd' \
    -o "$WORK/ceph.client.libvirt.keyring" >/dev/null
  "${CEPH[@]}" auth get-key client.libvirt > "$WORK/client.libvirt.key"

  # Ready when the libvirt user itself can write and remove an image (the PGs are active).
  libvirt_user_writes() {
    "${RBD[@]}" --id libvirt create --size 1M rbd/ceph-up-probe && "${RBD[@]}" --id libvirt rm --no-progress rbd/ceph-up-probe
  }
  wait_for 60 "client.libvirt writing to pool rbd" libvirt_user_writes || return 1
}

for attempt in 1 2 3; do
  # -e must hold inside the attempt, which an `if (…)` would switch off.
  set +e
  (set -e; start_cluster)
  started=$?
  set -e
  if [ $started -eq 0 ]; then
    echo "ceph is up: mon 127.0.0.1:$MON_PORT (v1 $MON_V1_PORT), conf $CONF, user client.libvirt, pool rbd"
    exit 0
  fi
  echo "ceph-up: attempt $attempt failed" >&2
  show_logs
  stop_own
  for port in "$MON_PORT" "$MON_V1_PORT"; do
    if port_taken "$port"; then
      echo "ceph-up: port $port is taken by another process" >&2
      exit 3
    fi
  done
done
die "the cluster did not start in 3 attempts (logs above; DIR $WORK)"
