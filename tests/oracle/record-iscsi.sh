#!/usr/bin/env bash
# Records what real libvirt 9.0 runs for the iscsi pool type (kernel initiator, iscsiadm) on this kind
# of machine, as the golden files in tests/VirtPool.Backends.Tests/Iscsi/Golden/ (README.md there):
#
#   tests/oracle/record-iscsi.sh
#
# A kernel without an iSCSI initiator (no SCSI, no iscsi_tcp) and without iscsid gets only so far:
# iscsiadm's sendtargets discovery and --login fail, so libvirtd's debug log shows the argv of
# pool-start (with and without CHAP, with an initiator IQN) and find-storage-pool-sources up to that
# failure. For each scenario: virsh's stdout/stderr/exit code (.out/.err/.rc), the commands libvirtd
# ran (.argv, from log_filters "1:util.command 1:storage 1:util.iscsi"), their results (.cmdlog) and
# what iscsiadm's node and iface databases hold afterwards (.leftover: libvirt leaves records behind).
# Then "captured/": iscsiadm's own output here for the commands the backend runs (.out/.err/.rc).
#
# Isolation: everything runs in a sandbox (unshare: mount, network, pid, UTS namespaces) with a private
# /run, /etc/iscsi (a copy), /etc/libvirt/{storage,secrets}, /var/lib/libvirt, /var/cache/libvirt and
# /var/log/libvirt, and its own loopback. iscsiadm's node records and ifaces land in the private copy
# of /etc/iscsi only; they are deleted with iscsiadm there too, and the copy goes with the work folder.
# No server is started: nothing listens on 127.0.0.1:3260 (iscsiadm fails before it would connect).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
OUT=${VPO_ORACLE_OUT:-$repo/tests/VirtPool.Backends.Tests/Iscsi/Golden}
TARGET=iqn.2024-01.test.infra:disk1
INITIATOR=iqn.2024-01.test.infra:client1
CHAP_USER=libvirt
CHAP_PASSWORD=libvirtsecret1

if [ "${VPO_ORACLE_INNER:-0}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "record-iscsi.sh: needs root (namespaces, bind mounts)" >&2; exit 1; }
  command -v iscsiadm >/dev/null || { echo "record-iscsi.sh: iscsiadm missing: install open-iscsi" >&2; exit 1; }
  WORK=$(mktemp -d /tmp/vpo-iscsi-oracle.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  VPO_ORACLE_INNER=1 VPO_ORACLE_WORK=$WORK \
    unshare --mount --net --pid --uts --fork --mount-proc --propagation private bash "$0" &
  sandbox=$!
  trap 'kill -TERM $(pgrep -P "$sandbox") 2>/dev/null || true; wait "$sandbox" || true; exit 130' INT TERM
  wait "$sandbox"
  exit 0
fi

# --- inside the sandbox ------------------------------------------------------------------------------
WORK=$VPO_ORACLE_WORK
URI="qemu+unix:///system?socket=$WORK/libvirt/libvirt-sock"
LOG=$WORK/libvirt/libvirtd.log
export LC_ALL=C
say() { printf '%s\n' "$*" >&2; }
virsh_q() { virsh -q -c "$URI" "$@"; }

inner_cleanup() {
  local rc=$? pid
  set +e
  say "teardown (exit status $rc)"
  if [ -S "$WORK/libvirt/libvirt-sock" ]; then
    for p in $(virsh_q pool-list --all --name 2>/dev/null); do
      virsh_q pool-destroy "$p" >/dev/null 2>&1
      virsh_q pool-undefine "$p" >/dev/null 2>&1
    done
  fi
  forget_iscsi_records
  if [ -f "$WORK/libvirt/libvirtd.pid" ]; then
    pid=$(tr -dc 0-9 < "$WORK/libvirt/libvirtd.pid")
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  fi
  exit "$rc"
}

# Deletes every node record and every libvirt-iface-* in the (private) iscsiadm databases.
forget_iscsi_records() {
  local portal target iface
  while read -r portal target; do
    [ -n "$target" ] && iscsiadm -m node -T "$target" -p "${portal%,*}" -o delete >/dev/null 2>&1
  done < <(iscsiadm -m node 2>/dev/null || true)
  while read -r iface _; do
    case $iface in libvirt-iface-*) iscsiadm -m iface -I "$iface" -o delete >/dev/null 2>&1 ;; esac
  done < <(iscsiadm -m iface 2>/dev/null || true)
}

trap inner_cleanup EXIT
trap 'exit 130' INT TERM

hostname vpo-oracle
ip link set lo up
mount -t tmpfs -o mode=0755 vpo-run /run
mkdir -p /run/lock
private_dir() { # private_dir PATH copy|empty
  local path=$1 how=$2 dir
  dir=$WORK/priv/$(echo "$path" | tr / _)
  mkdir -p "$dir" "$path"
  [ "$how" = copy ] && cp -a "$path/." "$dir/"
  mount --bind "$dir" "$path"
}
private_dir /etc/iscsi copy
private_dir /etc/libvirt/storage empty
private_dir /etc/libvirt/secrets empty
private_dir /var/lib/libvirt empty
private_dir /var/cache/libvirt empty
private_dir /var/log/libvirt empty

mkdir -p "$WORK/libvirt"
cat > "$WORK/libvirt/libvirtd.conf" <<CONF
listen_tls = 0
listen_tcp = 0
unix_sock_dir = "$WORK/libvirt"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_filters = "1:util.command 1:util.iscsi 1:storage"
log_outputs = "1:file:$LOG"
CONF
/usr/sbin/libvirtd --daemon --config "$WORK/libvirt/libvirtd.conf" --pid-file "$WORK/libvirt/libvirtd.pid"
for _ in $(seq 1 200); do
  [ -S "$WORK/libvirt/libvirt-sock" ] && virsh_q pool-capabilities >/dev/null 2>&1 && break
  sleep 0.1
done
virsh_q pool-capabilities >/dev/null

rm -rf "$OUT/libvirtd" "$OUT/captured"
mkdir -p "$OUT/libvirtd" "$OUT/captured"
SEQ=0

# rec SCENARIO VIRSH-ARGS...: runs virsh, saves NN-SCENARIO.{cmd,out,err,rc,argv,cmdlog,leftover}.
rec() {
  local scen=$1 base off rc; shift
  SEQ=$((SEQ + 1))
  base=$OUT/libvirtd/$(printf '%02d' "$SEQ")-$scen
  off=$(stat -c %s "$LOG")
  { printf 'virsh'; printf ' %q' "$@"; printf '\n'; } | sed "s#$WORK#@WORK@#g" > "$base.cmd"
  set +e
  virsh -c "$URI" "$@" > "$base.out" 2> "$base.err"
  rc=$?
  set -e
  echo "$rc" > "$base.rc"
  tail -c +"$((off + 1))" "$LOG" > "$WORK/log.slice"
  python3 "$here/extract-commands.py" "$WORK/log.slice" "$base.argv" "$base.cmdlog"
  { echo "# iscsiadm -m node"; iscsiadm -m node 2>&1 || true; echo "# iscsiadm -m iface"; iscsiadm -m iface 2>&1 || true; } > "$base.leftover"
  # libvirt names the iface it makes with 32 random bits
  sed -i -E "s#$WORK#@WORK@#g; s#libvirt-iface-[0-9a-f]{8}#libvirt-iface-@IFACE@#g" "$base".{out,err,argv,cmdlog,leftover}
  say "  $(basename "$base"): rc=$rc $(head -c 200 "$base.err" | tr '\n' ' ')"
}

pool_xml() { # pool_xml NAME [EXTRA-SOURCE-XML]
  cat > "$WORK/$1.xml" <<EOF
<pool type='iscsi'>
  <name>$1</name>
  <source>
    <host name='127.0.0.1' port='3260'/>
    <device path='$TARGET'/>
    ${2:-}
  </source>
  <target>
    <path>/dev/disk/by-path</path>
  </target>
</pool>
EOF
  cp "$WORK/$1.xml" "$OUT/libvirtd/$1.xml"
}

say "== libvirtd"
pool_xml iscsiplain
virsh_q pool-define "$WORK/iscsiplain.xml" >/dev/null
rec start-plain-bad pool-start iscsiplain
virsh_q pool-undefine iscsiplain >/dev/null
forget_iscsi_records

cat > "$WORK/secret.xml" <<EOF
<secret ephemeral='no' private='yes'>
  <uuid>6f3c1b2a-0d4e-4c5f-8a9b-1c2d3e4f5a6b</uuid>
  <usage type='iscsi'>
    <target>libvirtiscsi</target>
  </usage>
</secret>
EOF
virsh_q secret-define "$WORK/secret.xml" >/dev/null
printf %s "$CHAP_PASSWORD" > "$WORK/secret.value"
virsh_q secret-set-value 6f3c1b2a-0d4e-4c5f-8a9b-1c2d3e4f5a6b --file "$WORK/secret.value" --plain >/dev/null
pool_xml iscsichap "<auth type='chap' username='$CHAP_USER'><secret usage='libvirtiscsi'/></auth>"
virsh_q pool-define "$WORK/iscsichap.xml" >/dev/null
rec start-chap-bad pool-start iscsichap
virsh_q pool-undefine iscsichap >/dev/null
forget_iscsi_records

pool_xml iscsiinit "<initiator><iqn name='$INITIATOR'/></initiator>"
virsh_q pool-define "$WORK/iscsiinit.xml" >/dev/null
rec start-initiator-bad pool-start iscsiinit
virsh_q pool-undefine iscsiinit >/dev/null
# the iface libvirt made stays (without its IQN: iscsiadm could not update it): discovery with the
# initiator finds no iface for the IQN
rec find-sources-initiator-bad find-storage-pool-sources-as iscsi 127.0.0.1 3260 --initiator "$INITIATOR"
forget_iscsi_records

rec find-sources-bad find-storage-pool-sources-as iscsi 127.0.0.1 3260
rec find-sources-default-port-bad find-storage-pool-sources-as iscsi 127.0.0.1
rec find-sources-no-host-bad find-storage-pool-sources iscsi
rec start-as-ipv6-bad pool-create-as iscsi6 iscsi --source-host ::1 --source-dev "$TARGET" --target /dev/disk/by-path
forget_iscsi_records
virsh_q secret-undefine 6f3c1b2a-0d4e-4c5f-8a9b-1c2d3e4f5a6b >/dev/null

# --- iscsiadm's own answers here (for the parsers' tests) -----------------------------------------------
say "== captured"
cap() { # cap NAME ARGS...: saves iscsiadm's stdout, stderr and exit status
  local name=$1 rc; shift
  set +e
  iscsiadm "$@" > "$OUT/captured/$name.out" 2> "$OUT/captured/$name.err"
  rc=$?
  set -e
  echo "$rc" > "$OUT/captured/$name.rc"
  printf 'iscsiadm' > "$OUT/captured/$name.cmd"; printf ' %q' "$@" >> "$OUT/captured/$name.cmd"; printf '\n' >> "$OUT/captured/$name.cmd"
  say "  $name: rc=$rc"
}
IFACE=libvirt-iface-0badc0de
cap session-none --mode session
cap iface-default --mode iface
cap discovery-no-driver --mode discovery --type sendtargets --portal 127.0.0.1:3260,1 --op nonpersistent
cap node-show-missing --mode node --portal 127.0.0.1:3260,1 --targetname "$TARGET"
cap node-new --mode node --portal 127.0.0.1:3260,1 --targetname "$TARGET" --op new
cap node-list --mode node
cap node-update-authmethod --mode node --portal 127.0.0.1:3260,1 --target "$TARGET" --op update --name node.session.auth.authmethod --value CHAP
cap login-no-iscsid --mode node --portal 127.0.0.1:3260,1 --targetname "$TARGET" --login
cap logout-no-session --mode node --portal 127.0.0.1:3260,1 --targetname "$TARGET" --logout
cap rescan-no-session --mode session -r 1 -R
cap node-new-ipv6 --mode node --portal '[::1]:3260,1' --targetname "$TARGET" --op new
cap login-ipv6-no-iscsid --mode node --portal '[::1]:3260,1' --targetname "$TARGET" --login
cap node-delete-ipv6 --mode node --portal '[::1]:3260,1' --targetname "$TARGET" --op delete
cap node-delete --mode node --portal 127.0.0.1:3260,1 --targetname "$TARGET" --op delete
cap iface-new --mode iface --interface "$IFACE" --op new
cap iface-update-no-transport --mode iface --interface "$IFACE" --op update --name iface.initiatorname --value "$INITIATOR"
cap iface-with-libvirt-iface --mode iface
cap discovery-iface-no-driver --mode discovery --type sendtargets --portal 127.0.0.1:3260,1 --interface "$IFACE"
cap iface-delete --mode iface --interface "$IFACE" --op delete
forget_iscsi_records
say "done: $OUT"
