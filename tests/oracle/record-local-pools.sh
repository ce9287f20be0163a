#!/usr/bin/env bash
# Records what real libvirt 9.0 does for the local pool types fs, disk, logical, zfs and netfs, as the
# fixtures in tests/testdata/libvirt-local/ (see the README.md there for the layout and findings).
#
#   tests/oracle/record-local-pools.sh [TYPE...]     TYPE: fs disk logical zfs netfs (default: all)
#   env VPO_ORACLE_LOGS=DIR   also keep each scenario's raw libvirtd debug log in DIR
#
# Needs root and the tools scripts/install-deps.sh installs. For each scenario it runs real virsh against
# a private libvirtd and saves stdout, stderr, the exit code and the commands libvirtd ran (from its debug
# log: log_filters "1:util.command 1:storage"). A TYPE's directory is rewritten as a whole.
#
# Isolation: everything runs in a sandbox of its own (unshare: mount, network, pid and UTS namespaces)
# with a private /run, /etc/libvirt/{storage,secrets}, /var/lib/libvirt, /etc/lvm, /etc/zfs,
# /var/lib/glusterd and /var/log/glusterfs, host name "vpo-oracle" and its own loopback interface. So
# the singletons (glusterd on 24007 and /run/glusterd.socket, zfs-fuse's /run/zfs/zfs_socket, rpcbind's
# /run/rpcbind.sock) never meet another helper's, no port is reachable from outside, and LVM only
# scans this run's loop device. Loop devices are the one global thing: each is made here over a file
# in this run's mktemp directory and detached at the end.
#
# Teardown, also on failure or INT/TERM: the sandbox's EXIT trap destroys and undefines every pool in its libvirtd,
# unmounts what is mounted under the work directory, stops gluster volumes, destroys zpools, stops
# ganesha, rpcbind, glusterd, zfs-fuse and libvirtd by their own PIDs, removes the VG and PV and
# detaches the loop devices. Whatever survives that dies with the sandbox (its pid namespace ends with
# its first process, which takes its mounts with it); the outer EXIT trap then detaches any loop device
# still backed by a file of this run and removes the work directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
OUT=${VPO_ORACLE_OUT:-$repo/tests/testdata/libvirt-local}
ALL_TYPES=(fs disk logical zfs netfs)
SANDBOX_HOST=vpo-oracle

# ---------------------------------------------------------------------------------------------------
# Outer part: work directory, sandbox, last-resort cleanup of loop devices.
if [ "${VPO_ORACLE_INNER:-0}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "record-local-pools.sh: needs root (loop devices, mounts, namespaces)" >&2; exit 1; }
  types=("$@")
  [ ${#types[@]} -gt 0 ] || types=("${ALL_TYPES[@]}")
  for t in "${types[@]}"; do
    case " ${ALL_TYPES[*]} " in *" $t "*) ;; *) echo "unknown type '$t' (known: ${ALL_TYPES[*]})" >&2; exit 2 ;; esac
  done
  WORK=$(mktemp -d /tmp/vpo-oracle.XXXXXX)
  outer_cleanup() {
    local rc=$?
    if [ -f "$WORK/loops" ]; then
      while read -r dev; do
        if losetup -n -O BACK-FILE "$dev" 2>/dev/null | grep -q "^$WORK/"; then
          echo "outer cleanup: detaching $dev" >&2
          losetup -d "$dev" || true
        fi
      done < "$WORK/loops"
    fi
    rm -rf "$WORK"
    exit "$rc"
  }
  trap outer_cleanup EXIT
  # In the background, so that a signal is handled now rather than when the sandbox ends; unshare
  # itself ignores INT and TERM, so the sandbox's first process (its teardown) gets a TERM.
  VPO_ORACLE_INNER=1 VPO_ORACLE_WORK=$WORK \
    unshare --mount --net --pid --uts --fork --mount-proc --propagation private bash "$0" "${types[@]}" &
  sandbox=$!
  stop_sandbox() {
    local inner
    inner=$(pgrep -P "$sandbox" || true)
    if [ -n "$inner" ]; then kill -TERM "$inner" 2>/dev/null || true; fi
    wait "$sandbox" || true
    exit 130
  }
  trap stop_sandbox INT TERM
  wait "$sandbox"
  exit 0
fi

# ---------------------------------------------------------------------------------------------------
# Inner part (inside the sandbox).
WORK=$VPO_ORACLE_WORK
URI="qemu+unix:///system?socket=$WORK/libvirt/libvirt-sock"
LOG=$WORK/libvirt/libvirtd.log
SUBST=$WORK/subst
RUN=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
VG=vpo${RUN}vg
GL="gluster --mode=script"
export LC_ALL=C LVM_SUPPRESS_FD_WARNINGS=1
: > "$WORK/loops"
: > "$SUBST"
: > "$WORK/vgs"

say() { printf '%s\n' "$*" >&2; }

# Stops a daemon by the PID in its pid file: TERM, then KILL if it is still there after 15 s.
stop_pidfile() {
  local pf=$1 pid
  [ -f "$pf" ] || return 0
  pid=$(tr -dc 0-9 < "$pf")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pf"
}

subst_literal() { printf '%s\t%s\n' "$(python3 -c 'import re,sys; print(re.escape(sys.argv[1]))' "$1")" "$2" >> "$SUBST"; }

# attach_loop FILE PLACEHOLDER [losetup options]: prints the device; recorded output shows @PLACEHOLDER@.
attach_loop() {
  local file=$1 name=$2 dev; shift 2
  dev=$(losetup -f --show "$@" "$file")
  echo "$dev" >> "$WORK/loops"
  printf '@%s@\t%s\n' "$name" "$(( ${#dev} - 5 ))" >> "$OUT/$T/PLACEHOLDERS"
  printf '(?<![0-9A-Za-z_])%s(?![0-9])\t@%s@\n' "${dev#/dev/}" "$name" >> "$SUBST"
  echo "$dev"
}
# detach_loop DEV: detaches it, and drops its placeholder rule (the kernel reuses the number).
detach_loop() {
  local dev=$1
  if losetup -n -O BACK-FILE "$dev" 2>/dev/null | grep -q "^$WORK/"; then losetup -d "$dev"; fi
  grep -vF -- "])${dev#/dev/}(?!" "$SUBST" > "$SUBST.new" || true
  mv "$SUBST.new" "$SUBST"
}

virsh_q() { virsh -q -c "$URI" "$@"; }

inner_cleanup() {
  local rc=$?
  set +e
  say "teardown (exit status $rc)"
  if [ -S "$WORK/libvirt/libvirt-sock" ]; then
    for p in $(virsh_q pool-list --all --name 2>/dev/null); do
      virsh_q pool-destroy "$p" >/dev/null 2>&1
      virsh_q pool-undefine "$p" >/dev/null 2>&1
    done
  fi
  findmnt -rn -o TARGET | grep -- "^$WORK/" | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  if [ -f "$WORK/glusterd.pid" ]; then
    for v in $($GL volume list 2>/dev/null | grep -v '^No volumes'); do
      $GL volume stop "$v" force >/dev/null 2>&1
      $GL volume delete "$v" >/dev/null 2>&1
    done
    for pf in /run/gluster/vols/*/*.pid; do [ -f "$pf" ] && stop_pidfile "$pf"; done
    stop_pidfile "$WORK/glusterd.pid"
  fi
  if [ -f "$WORK/zfs-fuse.pid" ]; then
    for p in $(zpool list -H -o name 2>/dev/null); do zpool destroy -f "$p" >/dev/null 2>&1; done
    stop_pidfile "$WORK/zfs-fuse.pid"
    for d in /vpozbuilt; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
  fi
  stop_pidfile "$WORK/ganesha.pid"
  stop_pidfile "$WORK/rpcbind.pid"
  stop_pidfile "$WORK/libvirt/libvirtd.pid"
  while read -r vg; do
    [ -n "$vg" ] && vgremove -f -q "$vg" >/dev/null 2>&1
  done < "$WORK/vgs"
  while read -r dev; do
    pvs "$dev" >/dev/null 2>&1 && pvremove -q -ff -y "$dev" >/dev/null 2>&1
    detach_loop "$dev"
  done < "$WORK/loops"
  findmnt -rn -o TARGET | grep -- "^$WORK/" | sort -r | while read -r m; do umount -l "$m"; done
  exit "$rc"
}
trap inner_cleanup EXIT
trap 'exit 130' INT TERM

# --- the sandbox's private state ------------------------------------------------------------------
hostname "$SANDBOX_HOST"
ip link set lo up
# glibc's getaddrinfo(AI_ADDRCONFIG) finds no IPv4 when 127.0.0.1 is the only address, and then even
# "127.0.0.1" does not resolve (ganesha: "No IP address found for 127.0.0.1"); a second loopback
# address makes the sandbox resolve like a host with a network
ip addr add 127.0.0.2/32 dev lo
mount -t tmpfs -o mode=0755 vpo-run /run
mkdir -p /run/lock /run/gluster /run/zfs /run/lock/zfs
private_dir() { # private_dir PATH copy|empty
  local path=$1 how=$2 dir
  dir=$WORK/priv/$(echo "$path" | tr / _)
  mkdir -p "$dir" "$path"
  [ "$how" = copy ] && cp -a "$path/." "$dir/"
  mount --bind "$dir" "$path"
}
private_dir /etc/libvirt/storage empty
private_dir /etc/libvirt/secrets empty
private_dir /var/lib/libvirt empty
private_dir /var/cache/libvirt empty
private_dir /var/log/libvirt empty
private_dir /etc/lvm copy
private_dir /etc/zfs copy
private_dir /var/lib/glusterd copy
private_dir /var/log/glusterfs empty
cp /etc/hosts "$WORK/hosts"
echo "127.0.0.1 $SANDBOX_HOST" >> "$WORK/hosts"
mount --bind "$WORK/hosts" /etc/hosts

subst_literal "$WORK" "@WORK@"
subst_literal "$VG" "@VG@"

# --- libvirtd with command and storage debug logging --------------------------------------------
mkdir -p "$WORK/libvirt"
cat > "$WORK/libvirt/libvirtd.conf" <<CONF
listen_tls = 0
listen_tcp = 0
unix_sock_dir = "$WORK/libvirt"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_filters = "1:util.command 1:storage"
log_outputs = "1:file:$LOG"
CONF
/usr/sbin/libvirtd --daemon --config "$WORK/libvirt/libvirtd.conf" --pid-file "$WORK/libvirt/libvirtd.pid"
for _ in $(seq 1 200); do
  [ -S "$WORK/libvirt/libvirt-sock" ] && virsh_q pool-capabilities >/dev/null 2>&1 && break
  sleep 0.1
done
virsh_q pool-capabilities >/dev/null

# --- recording ------------------------------------------------------------------------------------
T=""             # the pool type being recorded (directory under $OUT)
declare -A SEQ=()

begin_type() {
  T=$1
  rm -rf "${OUT:?}/$T"
  mkdir -p "$OUT/$T"
  SEQ[$T]=0
  # the length of the text each placeholder replaced (virsh pads table columns to the real text)
  printf '@WORK@\t%s\n@VG@\t%s\n' "${#WORK}" "${#VG}" > "$OUT/$T/PLACEHOLDERS"
  say "== $T"
}

# rec SCENARIO VIRSH-ARGS...: runs virsh and saves NN-SCENARIO.{cmd,out,err,rc,argv,cmdlog}.
rec() {
  local scen=$1; shift
  local n base off rc
  n=$(( ${SEQ[$T]} + 1 )); SEQ[$T]=$n
  base=$OUT/$T/$(printf '%02d' "$n")-$scen
  off=$(stat -c %s "$LOG")
  printf 'virsh' > "$base.cmd"
  printf ' %q' "$@" >> "$base.cmd"
  printf '\n' >> "$base.cmd"
  set +e
  virsh -c "$URI" "$@" > "$base.out" 2> "$base.err"
  rc=$?
  set -e
  echo "$rc" > "$base.rc"
  tail -c +"$((off + 1))" "$LOG" > "$WORK/log.slice"
  python3 "$here/extract-commands.py" "$WORK/log.slice" "$base.argv" "$base.cmdlog"
  python3 "$here/normalize.py" "$SUBST" "$base".{cmd,out,err,argv,cmdlog}
  # VPO_ORACLE_LOGS=DIR keeps each scenario's raw libvirtd debug log (not normalized) for digging
  if [ -n "${VPO_ORACLE_LOGS:-}" ]; then cp "$WORK/log.slice" "$VPO_ORACLE_LOGS/$T-$(basename "$base").log"; fi
  say "  $(basename "$base"): rc=$rc $(head -c 160 "$base.err" | tr '\n' ' ')"
}

# xml NAME: writes stdin to $WORK/NAME.xml and a normalized copy to $OUT/$T/NAME.xml (the input the
# .cmd files name as @WORK@/NAME.xml).
xml() {
  cat > "$WORK/$1.xml"
  cp "$WORK/$1.xml" "$OUT/$T/$1.xml"
  python3 "$here/normalize.py" "$SUBST" "$OUT/$T/$1.xml"
}

# ---------------------------------------------------------------------------------------------------
record_fs() {
  begin_type fs
  local dev dev2
  truncate -s 512M "$WORK/fs1.img" "$WORK/fs2.img"
  dev=$(attach_loop "$WORK/fs1.img" LOOP_FS1)
  dev2=$(attach_loop "$WORK/fs2.img" LOOP_FS2)
  mkdir -p "$WORK/fs"

  # ext4 through pool-define-as, on a blank device
  rec define-as-ext4 pool-define-as fsext4 fs --source-dev "$dev" --source-format ext4 --target "$WORK/fs/ext4"
  rec dumpxml-inactive pool-dumpxml --inactive fsext4
  rec define-as-btrfs-bad pool-define-as fsbtrfs fs --source-dev "$dev" --source-format btrfs --target "$WORK/fs/btrfs"
  rec define-as-no-device-bad pool-define-as fsnodev fs --target "$WORK/fs/nodev"
  rec start-no-target-bad pool-start fsext4
  rec build-plain pool-build fsext4
  rec start-blank-device-bad pool-start fsext4
  rec build-no-overwrite-blank pool-build fsext4 --no-overwrite
  rec build-no-overwrite-formatted-bad pool-build fsext4 --no-overwrite
  rec build-overwrite pool-build fsext4 --overwrite
  rec build-both-flags-bad pool-build fsext4 --overwrite --no-overwrite
  rec start pool-start fsext4
  rec start-active-bad pool-start fsext4
  rec build-active-bad pool-build fsext4 --overwrite
  rec info pool-info fsext4
  rec dumpxml pool-dumpxml fsext4
  rec vol-create-raw vol-create-as fsext4 raw1 10M
  rec vol-create-raw-sparse vol-create-as fsext4 raw2 10M --allocation 0
  rec vol-create-qcow2 vol-create-as fsext4 qcow1 20M --format qcow2
  rec vol-create-duplicate-bad vol-create-as fsext4 raw1 10M
  rec vol-create-unknown-format-bad vol-create-as fsext4 bad1 10M --format nosuch
  rec vol-list vol-list fsext4 --details
  rec vol-info vol-info raw1 --pool fsext4
  rec vol-dumpxml-raw vol-dumpxml raw1 --pool fsext4
  rec vol-dumpxml-qcow2 vol-dumpxml qcow1 --pool fsext4
  rec refresh pool-refresh fsext4
  rec info-after-vols pool-info fsext4
  rec vol-delete vol-delete raw2 --pool fsext4
  rec delete-active-bad pool-delete fsext4
  rec destroy pool-destroy fsext4
  rec vol-list-inactive-bad vol-list fsext4
  rec delete pool-delete fsext4
  rec undefine pool-undefine fsext4

  # xfs through pool-define (XML)
  xml fsxfs <<EOF
<pool type='fs'>
  <name>fsxfs</name>
  <source>
    <device path='$dev2'/>
    <format type='xfs'/>
  </source>
  <target>
    <path>$WORK/fs/xfs</path>
  </target>
</pool>
EOF
  rec xfs-define pool-define "$WORK/fsxfs.xml"
  rec xfs-build-no-overwrite pool-build fsxfs --no-overwrite
  rec xfs-build-overwrite pool-build fsxfs --overwrite
  rec xfs-start pool-start fsxfs
  rec xfs-info pool-info fsxfs
  rec xfs-dumpxml pool-dumpxml fsxfs
  rec xfs-vol-create-qcow2 vol-create-as fsxfs qcow1 20M --format qcow2
  rec xfs-vol-list vol-list fsxfs --details
  rec xfs-destroy pool-destroy fsxfs
  rec xfs-undefine pool-undefine fsxfs

  # format auto (btrfs, made by the recorder, is no pool source format but auto mounts it) and vfat
  # (mkfs.vfat exists, the kernel has no vfat)
  mkfs.btrfs -q -f "$dev2" >/dev/null
  rec auto-define-as pool-define-as fsauto fs --source-dev "$dev2" --source-format auto --target "$WORK/fs/auto"
  rec auto-build-overwrite-bad pool-build fsauto --overwrite
  rec auto-build-plain pool-build fsauto
  rec auto-start pool-start fsauto
  rec auto-info pool-info fsauto
  rec auto-dumpxml pool-dumpxml fsauto
  rec auto-destroy pool-destroy fsauto
  rec auto-undefine pool-undefine fsauto
  rec vfat-define-as pool-define-as fsvfat fs --source-dev "$dev2" --source-format vfat --target "$WORK/fs/vfat"
  rec vfat-build-overwrite pool-build fsvfat --overwrite
  rec vfat-start-no-kernel-vfat-bad pool-start fsvfat
  rec vfat-undefine pool-undefine fsvfat

  # wrong format: the ext4 device of fsext4 (pool-delete left the file system) as an xfs pool
  xml fswrong <<EOF
<pool type='fs'>
  <name>fswrong</name>
  <source>
    <device path='$dev'/>
    <format type='xfs'/>
  </source>
  <target>
    <path>$WORK/fs/wrong</path>
  </target>
</pool>
EOF
  rec wrong-define pool-define "$WORK/fswrong.xml"
  rec wrong-build-no-overwrite-bad pool-build fswrong --no-overwrite
  rec wrong-build-plain pool-build fswrong
  rec wrong-start-bad pool-start fswrong
  rec wrong-undefine pool-undefine fswrong

  # a source device that does not exist
  xml fsmissing <<EOF
<pool type='fs'>
  <name>fsmissing</name>
  <source>
    <device path='$WORK/no-such-device'/>
    <format type='ext4'/>
  </source>
  <target>
    <path>$WORK/fs/missing</path>
  </target>
</pool>
EOF
  rec missing-define pool-define "$WORK/fsmissing.xml"
  rec missing-build-no-overwrite-bad pool-build fsmissing --no-overwrite
  rec missing-build-plain pool-build fsmissing
  rec missing-start-bad pool-start fsmissing
  rec missing-undefine pool-undefine fsmissing

  # the ext4 device already mounted somewhere else (mounted by this script, in libvirtd's namespace)
  mkdir -p "$WORK/elsewhere"
  mount -t ext4 "$dev" "$WORK/elsewhere"
  xml fsbusy <<EOF
<pool type='fs'>
  <name>fsbusy</name>
  <source>
    <device path='$dev'/>
    <format type='ext4'/>
  </source>
  <target>
    <path>$WORK/fs/busy</path>
  </target>
</pool>
EOF
  rec busy-define pool-define "$WORK/fsbusy.xml"
  rec busy-build-overwrite-mounted-bad pool-build fsbusy --overwrite
  rec busy-build-plain pool-build fsbusy
  rec busy-start-mounted-elsewhere pool-start fsbusy
  rec busy-info pool-info fsbusy
  rec busy-destroy pool-destroy fsbusy
  rec busy-undefine pool-undefine fsbusy
  umount "$WORK/elsewhere"

  detach_loop "$dev"
  detach_loop "$dev2"
}

# ---------------------------------------------------------------------------------------------------
record_disk() {
  begin_type disk
  local dev ln dev2 ln2
  truncate -s 256M "$WORK/dos.img" "$WORK/gpt.img"
  dev=$(attach_loop "$WORK/dos.img" LOOP_DOS -P)
  ln=${dev#/dev/}
  disk_xml() { # disk_xml NAME DEVICE FORMAT
    xml "$1" <<EOF
<pool type='disk'>
  <name>$1</name>
  <source>
    <device path='$2'/>
    <format type='$3'/>
  </source>
  <target>
    <path>/dev</path>
  </target>
</pool>
EOF
  }
  # fill_and_label DEV LABEL: 0xAA over the whole device, then a fresh empty LABEL (parted mklabel);
  # zeroed NAME DEV then lists the all-zero byte ranges in $OUT/$T/NAME: after a pool-delete, what it
  # wiped (the label's own zero bytes vary with gpt's random GUIDs, so no "before" list is kept)
  fill_and_label() {
    python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    block = b"\xaa" * (1 << 20)
    for _ in range(int(sys.argv[2]) >> 20):
        f.write(block)' "$1" "$(blockdev --getsize64 "$1")"
    parted -s "$1" mklabel "$2" 2>/dev/null
  }
  zeroed() { python3 "$here/zero-ranges.py" "$2" > "$OUT/$T/$1"; }

  disk_xml diskdos "$dev" dos
  rec dos-define pool-define "$WORK/diskdos.xml"
  rec dos-start-unlabelled-bad pool-start diskdos
  rec dos-build-no-overwrite-blank pool-build diskdos --no-overwrite
  rec dos-build-no-overwrite-labelled-bad pool-build diskdos --no-overwrite
  rec dos-build-plain-labelled-bad pool-build diskdos
  rec dos-start pool-start diskdos
  rec dos-info-empty pool-info diskdos
  rec dos-dumpxml-empty pool-dumpxml diskdos
  rec dos-vol-create-p1 vol-create-as diskdos "${ln}p1" 10M
  # a wrong name is noticed only after parted made the partition: the partition stays, and the
  # pool's free extents are left empty until the next refresh
  rec dos-vol-create-wrong-name-bad vol-create-as diskdos part2 20M
  rec dos-dumpxml-after-wrong-name pool-dumpxml diskdos
  rec dos-vol-list-after-wrong-name vol-list diskdos --details
  rec dos-vol-create-after-wrong-name-bad vol-create-as diskdos "${ln}p3" 30M
  rec dos-refresh-after-wrong-name pool-refresh diskdos
  rec dos-vol-list-after-wrong-name-refresh vol-list diskdos --details
  rec dos-vol-create-p3 vol-create-as diskdos "${ln}p3" 30M
  rec dos-vol-create-duplicate-bad vol-create-as diskdos "${ln}p3" 30M
  rec dos-vol-create-too-big-bad vol-create-as diskdos "${ln}p4" 1G
  rec dos-vol-create-p4-extended vol-create-as diskdos "${ln}p4" 100M --format extended
  rec dos-vol-create-second-extended-bad vol-create-as diskdos "${ln}p5" 10M --format extended
  rec dos-vol-create-p5-logical vol-create-as diskdos "${ln}p5" 10M
  rec dos-vol-create-p6-logical-linux-swap vol-create-as diskdos "${ln}p6" 20M --format linux-swap
  rec dos-vol-create-p7-beyond-extended-bad vol-create-as diskdos "${ln}p7" 80M
  rec dos-vol-list vol-list diskdos --details
  rec dos-vol-info-p1 vol-info "${ln}p1" --pool diskdos
  rec dos-vol-dumpxml-p1 vol-dumpxml "${ln}p1" --pool diskdos
  rec dos-vol-dumpxml-p4-extended vol-dumpxml "${ln}p4" --pool diskdos
  rec dos-vol-dumpxml-p5-logical vol-dumpxml "${ln}p5" --pool diskdos
  rec dos-vol-dumpxml-p6-swap vol-dumpxml "${ln}p6" --pool diskdos
  rec dos-info pool-info diskdos
  rec dos-dumpxml pool-dumpxml diskdos
  rec dos-vol-delete-p2-bad vol-delete "${ln}p2" --pool diskdos
  rec dos-vol-resize-bad vol-resize "${ln}p1" 20M --pool diskdos
  rec dos-vol-wipe-p1 vol-wipe "${ln}p1" --pool diskdos
  rec dos-refresh pool-refresh diskdos
  rec dos-vol-list-after-refresh vol-list diskdos --details
  rec dos-destroy pool-destroy diskdos
  rec dos-build-overwrite pool-build diskdos --overwrite
  rec dos-start-after-overwrite pool-start diskdos
  rec dos-vol-list-after-overwrite vol-list diskdos --details
  rec dos-destroy-after-overwrite pool-destroy diskdos
  fill_and_label "$dev" msdos
  rec dos-delete pool-delete diskdos
  zeroed dos-delete.zeroed-after "$dev"
  rec dos-start-after-delete pool-start diskdos
  rec dos-vol-list-after-delete vol-list diskdos --details
  rec dos-destroy-after-delete pool-destroy diskdos
  rec dos-undefine pool-undefine diskdos

  # dos: a fifth partition after four primaries
  parted -s "$dev" mklabel msdos 2>/dev/null
  disk_xml diskdos4 "$dev" dos
  rec dos4-create pool-create "$WORK/diskdos4.xml"
  rec dos4-vol-create-p1 vol-create-as diskdos4 "${ln}p1" 10M
  rec dos4-vol-create-p2 vol-create-as diskdos4 "${ln}p2" 10M
  rec dos4-vol-create-p3 vol-create-as diskdos4 "${ln}p3" 10M
  rec dos4-vol-create-p4 vol-create-as diskdos4 "${ln}p4" 10M
  rec dos4-vol-create-p5-no-extended-bad vol-create-as diskdos4 "${ln}p5" 10M
  rec dos4-dumpxml pool-dumpxml diskdos4
  rec dos4-destroy pool-destroy diskdos4
  detach_loop "$dev"

  # gpt, over a device that already has a dos label
  dev2=$(attach_loop "$WORK/gpt.img" LOOP_GPT -P)
  ln2=${dev2#/dev/}
  parted -s "$dev2" mklabel msdos 2>/dev/null
  disk_xml diskgpt "$dev2" gpt
  rec gpt-define pool-define "$WORK/diskgpt.xml"
  rec gpt-start-dos-label-bad pool-start diskgpt
  rec gpt-build-no-overwrite-over-dos-bad pool-build diskgpt --no-overwrite
  rec gpt-build-overwrite pool-build diskgpt --overwrite
  rec gpt-start pool-start diskgpt
  rec gpt-vol-create-p1 vol-create-as diskgpt "${ln2}p1" 10M
  rec gpt-vol-create-p2 vol-create-as diskgpt "${ln2}p2" 20M
  rec gpt-vol-create-p3 vol-create-as diskgpt "${ln2}p3" 30M
  rec gpt-vol-create-p4 vol-create-as diskgpt "${ln2}p4" 10M
  rec gpt-vol-create-p5 vol-create-as diskgpt "${ln2}p5" 10M
  rec gpt-vol-create-extended-ignored vol-create-as diskgpt "${ln2}p6" 10M --format extended
  rec gpt-vol-list vol-list diskgpt --details
  rec gpt-vol-info-p2 vol-info "${ln2}p2" --pool diskgpt
  rec gpt-vol-dumpxml-p2 vol-dumpxml "${ln2}p2" --pool diskgpt
  rec gpt-vol-dumpxml-p6 vol-dumpxml "${ln2}p6" --pool diskgpt
  rec gpt-info pool-info diskgpt
  rec gpt-dumpxml pool-dumpxml diskgpt
  rec gpt-vol-delete-p2-bad vol-delete "${ln2}p2" --pool diskgpt
  rec gpt-refresh pool-refresh diskgpt
  rec gpt-destroy pool-destroy diskgpt
  rec gpt-build-no-overwrite-over-gpt-bad pool-build diskgpt --no-overwrite
  fill_and_label "$dev2" gpt
  rec gpt-delete pool-delete diskgpt
  zeroed gpt-delete.zeroed-after "$dev2"
  rec gpt-undefine pool-undefine diskgpt

  # a source device that does not exist
  disk_xml diskmissing "$WORK/no-such-device" gpt
  rec missing-define pool-define "$WORK/diskmissing.xml"
  rec missing-build-bad pool-build diskmissing --overwrite
  rec missing-start-bad pool-start diskmissing
  rec missing-undefine pool-undefine diskmissing
  detach_loop "$dev2"
}

# ---------------------------------------------------------------------------------------------------
record_logical() {
  begin_type logical
  local dev
  truncate -s 256M "$WORK/pv.img"
  dev=$(attach_loop "$WORK/pv.img" LOOP_PV)
  echo "$VG" >> "$WORK/vgs"
  # LVM in this sandbox sees only this run's loop device (and nothing of other VGs on the machine).
  cat > /etc/lvm/lvmlocal.conf <<EOF
devices {
  global_filter = [ "a|^$dev\$|", "r|.*|" ]
  use_devicesfile = 0
}
EOF
  xml lvpool <<EOF
<pool type='logical'>
  <name>lvpool</name>
  <source>
    <device path='$dev'/>
    <name>$VG</name>
    <format type='lvm2'/>
  </source>
  <target>
    <path>/dev/$VG</path>
  </target>
</pool>
EOF
  rec find-sources-none find-storage-pool-sources-as logical
  rec define-as pool-define-as lvas logical --source-dev "$dev" --source-name "$VG" --target "/dev/$VG"
  rec define-as-dumpxml pool-dumpxml --inactive lvas
  rec define-as-undefine pool-undefine lvas
  rec define pool-define "$WORK/lvpool.xml"
  rec define-as-conflict-bad pool-define-as lvas logical --source-dev "$dev" --source-name "$VG" --target "/dev/$VG"
  rec start-unbuilt-bad pool-start lvpool
  rec build pool-build lvpool
  rec build-again-bad pool-build lvpool
  rec build-no-overwrite-bad pool-build lvpool --no-overwrite
  rec find-sources find-storage-pool-sources-as logical
  rec find-sources-xml find-storage-pool-sources logical
  rec start-empty-vg pool-start lvpool
  rec info pool-info lvpool
  rec dumpxml pool-dumpxml lvpool
  rec vol-list vol-list lvpool --details
  rec vol-create-no-device-mapper-bad vol-create-as lvpool lv1 10M
  rec vol-list-after-failed-create vol-list lvpool --details
  rec build-active-bad pool-build lvpool --overwrite
  rec delete-active-bad pool-delete lvpool
  # an LV in the VG's metadata only (lvcreate without device-mapper: activation off, no zeroing)
  lvcreate --config 'global{activation=0}' -an -Zn -q -L 8M -n lvmeta "$VG" >/dev/null 2>&1
  rec refresh-with-metadata-only-lv pool-refresh lvpool
  rec vol-list-with-metadata-only-lv vol-list lvpool --details
  rec info-with-metadata-only-lv pool-info lvpool
  rec destroy pool-destroy lvpool
  rec start-with-lv-no-device-mapper-bad pool-start lvpool
  rec info-inactive pool-info lvpool
  rec vol-create-inactive-bad vol-create-as lvpool lv1 10M
  rec delete-with-lv pool-delete lvpool
  rec find-sources-after-delete find-storage-pool-sources-as logical
  rec build-overwrite-blank pool-build lvpool --overwrite
  rec delete pool-delete lvpool
  rec undefine pool-undefine lvpool

  # a pool naming only an existing VG (made by the recorder), without source devices
  pvcreate -q "$dev" >/dev/null 2>&1
  vgcreate -q "$VG" "$dev" >/dev/null 2>&1
  xml lvbyname <<EOF
<pool type='logical'>
  <name>lvbyname</name>
  <source>
    <name>$VG</name>
    <format type='lvm2'/>
  </source>
  <target>
    <path>/dev/$VG</path>
  </target>
</pool>
EOF
  rec byname-define pool-define "$WORK/lvbyname.xml"
  rec byname-start pool-start lvbyname
  rec byname-dumpxml pool-dumpxml lvbyname
  rec byname-destroy pool-destroy lvbyname
  rec byname-delete pool-delete lvbyname
  rec byname-find-sources-after-delete find-storage-pool-sources-as logical
  rec byname-undefine pool-undefine lvbyname
  detach_loop "$dev"
}

# ---------------------------------------------------------------------------------------------------
record_zfs() {
  begin_type zfs
  # the sandbox's first process (this shell) is PID 1, so zfs-fuse believes it is a daemon already and
  # stays in the foreground: start it in the background (its own --pidfile must not be touched, or it
  # believes another instance runs)
  zfs-fuse --pidfile "$WORK/zfs-fuse.pid" --no-kstat-mount -m 64 >> "$WORK/zfs-fuse.log" 2>&1 &
  for _ in $(seq 1 100); do zpool list >/dev/null 2>&1 && break; sleep 0.1; done
  zpool list >/dev/null || { cat "$WORK/zfs-fuse.log" >&2; exit 1; }
  truncate -s 128M "$WORK/zvdev0.img" "$WORK/zvdev1.img"
  mkdir -p "$WORK/zmnt"
  zpool create -f -o cachefile=none -m "$WORK/zmnt/ztank" ztank "$WORK/zvdev0.img" >/dev/null 2>&1
  zfs create ztank/fs1
  xml zfspool <<EOF
<pool type='zfs'>
  <name>zfspool</name>
  <source>
    <name>ztank</name>
  </source>
</pool>
EOF
  rec define pool-define "$WORK/zfspool.xml"
  rec start pool-start zfspool
  rec info pool-info zfspool
  rec dumpxml pool-dumpxml zfspool
  rec vol-list vol-list zfspool --details
  rec vol-create-zvol-unsupported-bad vol-create-as zfspool zv1 64M
  rec vol-list-after-failed-create vol-list zfspool --details
  rec refresh pool-refresh zfspool
  rec destroy pool-destroy zfspool
  rec undefine pool-undefine zfspool

  rec define-as pool-define-as zfsas zfs --source-name ztank
  rec define-as-dumpxml pool-dumpxml --inactive zfsas
  rec define-as-undefine pool-undefine zfsas

  xml zfsmissing <<EOF
<pool type='zfs'>
  <name>zfsmissing</name>
  <source>
    <name>nosuchzpool</name>
  </source>
</pool>
EOF
  rec missing-define pool-define "$WORK/zfsmissing.xml"
  rec missing-start pool-start zfsmissing
  rec missing-info pool-info zfsmissing
  rec missing-destroy pool-destroy zfsmissing
  rec missing-undefine pool-undefine zfsmissing

  xml zfsbuilt <<EOF
<pool type='zfs'>
  <name>zfsbuilt</name>
  <source>
    <name>vpozbuilt</name>
    <device path='$WORK/zvdev1.img'/>
  </source>
</pool>
EOF
  rec build-define pool-define "$WORK/zfsbuilt.xml"
  rec build pool-build zfsbuilt
  rec build-again-bad pool-build zfsbuilt
  rec build-start pool-start zfsbuilt
  rec build-info pool-info zfsbuilt
  rec build-dumpxml pool-dumpxml zfsbuilt
  rec build-destroy pool-destroy zfsbuilt
  rec build-delete pool-delete zfsbuilt
  rec build-undefine pool-undefine zfsbuilt

  # zfs-fuse may call the pool busy after the aborted zvol create; the teardown stops zfs-fuse either way
  zfs unmount -a >/dev/null 2>&1 || true
  zpool destroy -f ztank >/dev/null 2>&1 || say "  (zpool destroy ztank: busy; stopping zfs-fuse instead)"
  stop_pidfile "$WORK/zfs-fuse.pid"
  [ -d /vpozbuilt ] && rmdir /vpozbuilt 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------------
start_glusterd() {
  mkdir -p "$WORK/gl/glusterd" "$WORK/gl/log" "$WORK/gl/bricks"
  # a tmpfs brick: the pool's capacity and allocation are then the same on every run
  mount -t tmpfs -o size=256m vpo-brick "$WORK/gl/bricks"
  mkdir -p "$WORK/gl/bricks/gv0"
  cat > "$WORK/gl/glusterd.vol" <<EOF
volume management
    type mgmt/glusterd
    option working-directory $WORK/gl/glusterd
    option transport-type socket
    option transport.address-family inet
    option transport.socket.bind-address 127.0.0.1
    option transport.socket.listen-port 24007
    option transport.socket.read-fail-log off
    option ping-timeout 0
    option event-threads 1
    option max-port 60999
end-volume
EOF
  glusterd -f "$WORK/gl/glusterd.vol" -p "$WORK/glusterd.pid" -l "$WORK/gl/log/glusterd.log"
  for _ in $(seq 1 100); do $GL pool list >/dev/null 2>&1 && break; sleep 0.2; done
  $GL pool list >/dev/null
  # the CLI refuses 127.0.0.1/localhost as brick host; the sandbox's host name resolves to 127.0.0.1
  $GL volume create gv0 "$SANDBOX_HOST:$WORK/gl/bricks/gv0" force >/dev/null
  $GL volume set gv0 nfs.disable on >/dev/null
  $GL volume start gv0 >/dev/null
  for _ in $(seq 1 100); do
    $GL volume status gv0 detail 2>/dev/null | grep -q '^Online.*: Y' && break
    sleep 0.2
  done
  $GL volume status gv0 detail | grep -q '^Online.*: Y'
}

# rpcbind on its unix socket only (services.md §4: a private /etc/netconfig with the local transports).
start_rpcbind_unix_only() {
  grep -E '^(local|unix)[[:space:]]' /etc/netconfig > "$WORK/netconfig.local"
  ( unshare -m sh -c "mount --bind '$WORK/netconfig.local' /etc/netconfig && exec rpcbind -f" \
      >> "$WORK/rpcbind.log" 2>&1 & echo $! > "$WORK/rpcbind.pid" )
  for _ in $(seq 1 100); do [ -S /run/rpcbind.sock ] && break; sleep 0.1; done
  [ -S /run/rpcbind.sock ]
}

start_ganesha() {
  mkdir -p "$WORK/nfs/export" "$WORK/nfs/recov"
  cat > "$WORK/nfs/ganesha.conf" <<EOF
NFS_CORE_PARAM {
    Bind_addr = 127.0.0.1;
    NFS_Port = 2049;
    MNT_Port = 20048;
    Protocols = 3, 4;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
    Mount_Path_Pseudo = true;
}
NFSV4 {
    Graceless = true;
    RecoveryBackend = fs;
    RecoveryRoot = "$WORK/nfs/recov";
}
EXPORT {
    Export_Id = 1;
    Path = "$WORK/nfs/export";
    Pseudo = "/export";
    Protocols = 3, 4;
    Transports = TCP;
    Access_Type = RW;
    Squash = No_Root_Squash;
    FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
EOF
  ganesha.nfsd -f "$WORK/nfs/ganesha.conf" -L "$WORK/nfs/ganesha.log" -p "$WORK/ganesha.pid" -N NIV_EVENT
  # ready when the MOUNT service accepts TCP connections
  for _ in $(seq 1 100); do
    python3 -c 'import socket; socket.create_connection(("127.0.0.1", 20048), 1).close()' 2>/dev/null && break
    sleep 0.1
  done
  python3 -c 'import socket; socket.create_connection(("127.0.0.1", 20048), 1).close()' 2>/dev/null ||
    { tail -n 30 "$WORK/nfs/ganesha.log" "$WORK/rpcbind.log" >&2; exit 1; }
}

record_netfs() {
  begin_type netfs
  start_glusterd
  mkdir -p "$WORK/mnt"
  xml netgl <<EOF
<pool type='netfs'>
  <name>netgl</name>
  <source>
    <host name='127.0.0.1'/>
    <dir path='/gv0'/>
    <format type='glusterfs'/>
  </source>
  <target>
    <path>$WORK/mnt/gl</path>
  </target>
</pool>
EOF
  rec gl-define pool-define "$WORK/netgl.xml"
  rec gl-start-no-target-bad pool-start netgl
  rec gl-build pool-build netgl
  rec gl-start pool-start netgl
  rec gl-info pool-info netgl
  rec gl-dumpxml pool-dumpxml netgl
  rec gl-vol-create-raw vol-create-as netgl raw1 10M
  rec gl-vol-create-qcow2 vol-create-as netgl qcow1 20M --format qcow2
  rec gl-vol-list vol-list netgl --details
  rec gl-vol-info vol-info raw1 --pool netgl
  rec gl-vol-dumpxml-qcow2 vol-dumpxml qcow1 --pool netgl
  rec gl-refresh pool-refresh netgl
  rec gl-vol-delete vol-delete raw1 --pool netgl
  rec gl-destroy pool-destroy netgl
  rec gl-delete pool-delete netgl
  rec gl-undefine pool-undefine netgl

  xml netglbadvol <<EOF
<pool type='netfs'>
  <name>netglbadvol</name>
  <source>
    <host name='127.0.0.1'/>
    <dir path='/nosuchvol'/>
    <format type='glusterfs'/>
  </source>
  <target>
    <path>$WORK/mnt/glbad</path>
  </target>
</pool>
EOF
  rec gl-badvol-define pool-define "$WORK/netglbadvol.xml"
  rec gl-badvol-build pool-build netglbadvol
  rec gl-badvol-start-bad pool-start netglbadvol
  rec gl-badvol-undefine pool-undefine netglbadvol

  rec gl-find-sources-gluster find-storage-pool-sources-as gluster 127.0.0.1
  xml netglspec <<EOF
<source>
  <host name='127.0.0.1'/>
  <format type='glusterfs'/>
</source>
EOF
  rec gl-find-sources-netfs-glusterfs find-storage-pool-sources netfs "$WORK/netglspec.xml"

  # format nfs: no NFS client in this kernel
  xml netnfs <<EOF
<pool type='netfs'>
  <name>netnfs</name>
  <source>
    <host name='127.0.0.1'/>
    <dir path='/export'/>
    <format type='nfs'/>
  </source>
  <target>
    <path>$WORK/mnt/nfs</path>
  </target>
</pool>
EOF
  rec nfs-define pool-define "$WORK/netnfs.xml"
  rec nfs-build pool-build netnfs
  rec nfs-start-no-kernel-client-bad pool-start netnfs
  rec nfs-undefine pool-undefine netnfs
  rec nfs-define-as-auto pool-define-as netauto netfs --source-host 127.0.0.1 --source-path /export --target "$WORK/mnt/auto"
  rec nfs-define-as-auto-dumpxml pool-dumpxml --inactive netauto
  rec nfs-auto-build pool-build netauto
  rec nfs-auto-start-bad pool-start netauto
  rec nfs-auto-undefine pool-undefine netauto
  rec cifs-define-as pool-define-as netcifs netfs --source-host 127.0.0.1 --source-path share --source-format cifs --target "$WORK/mnt/cifs"
  rec cifs-build pool-build netcifs
  rec cifs-start-bad pool-start netcifs
  rec cifs-undefine pool-undefine netcifs

  # NFS export lists (showmount) against nfs-ganesha, with rpcbind on its unix socket only
  start_rpcbind_unix_only
  start_ganesha
  rec nfs-find-sources-rpcbind-unix-only find-storage-pool-sources-as netfs 127.0.0.1
  rec nfs-find-sources-no-host-bad find-storage-pool-sources-as netfs
  stop_pidfile "$WORK/ganesha.pid"
  stop_pidfile "$WORK/rpcbind.pid"
  rm -f /run/rpcbind.sock

  # the same with rpcbind also on TCP/UDP 111: it binds the wildcard address, which inside this sandbox
  # is only its own loopback interface (nothing outside can reach it)
  ( rpcbind -f >> "$WORK/rpcbind.log" 2>&1 & echo $! > "$WORK/rpcbind.pid" )
  for _ in $(seq 1 100); do
    python3 -c 'import socket; socket.create_connection(("127.0.0.1", 111), 1).close()' 2>/dev/null && break
    sleep 0.1
  done
  start_ganesha
  rec nfs-find-sources-rpcbind-tcp find-storage-pool-sources-as netfs 127.0.0.1

  # without glusterd: is the gluster half of the netfs search fatal?
  $GL volume stop gv0 force >/dev/null
  $GL volume delete gv0 >/dev/null
  stop_pidfile "$WORK/glusterd.pid"
  rec nfs-find-sources-no-glusterd find-storage-pool-sources-as netfs 127.0.0.1
  rec gl-find-sources-no-glusterd-bad find-storage-pool-sources-as gluster 127.0.0.1
  stop_pidfile "$WORK/ganesha.pid"
  stop_pidfile "$WORK/rpcbind.pid"
}

# ---------------------------------------------------------------------------------------------------
for t in "$@"; do "record_$t"; done
{
  echo "libvirtd --version: $(libvirtd --version)"
  echo "virsh --version: $(virsh --version)"
  dpkg-query -W -f='${Package} ${Version}\n' libvirt-daemon libvirt-clients libvirt-daemon-driver-storage-zfs \
    parted lvm2 e2fsprogs xfsprogs zfs-fuse glusterfs-server glusterfs-client nfs-ganesha nfs-common rpcbind
  echo "kernel: $(uname -r)"
} > "$OUT/VERSIONS"
say "done"
