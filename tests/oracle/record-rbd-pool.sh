#!/usr/bin/env bash
# Records what real libvirt 9.0 does with an rbd pool on a private single-node Ceph, as the fixtures in
# tests/oracle/libvirt-rbd/ (README.md there: layout, placeholders, findings).
#
#   tests/oracle/record-rbd-pool.sh
#
# Needs root and the packages scripts/install-deps.sh installs (ceph-mon, ceph-osd, ceph-common,
# libvirt-daemon-driver-storage-rbd). Each scenario runs real virsh against a private libvirtd and saves
# its stdout, stderr and exit code; where the cluster's side matters (image features, snapshots left
# behind, data written) the recorder also saves what `rbd` (client.admin) shows then.
#
# Isolation: everything runs in a sandbox (unshare: mount, network, pid namespaces) with its own
# loopback interface, a private /run, /etc/libvirt/{storage,secrets} and /var/lib/libvirt. The cluster
# (tests/services/ceph-up.sh) therefore listens on 127.0.0.1:3300 of the sandbox only and never meets
# another test's. Teardown, also on failure or INT/TERM: pools and secrets undefined, libvirtd and the
# cluster stopped by their own pids (ceph-down.sh), the pid namespace takes whatever is left, the
# work directory is removed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
OUT=${VPO_ORACLE_OUT:-$here/libvirt-rbd}
MON_PORT=3300

if [ "${VPO_ORACLE_INNER:-0}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "record-rbd-pool.sh: needs root (namespaces, mounts)" >&2; exit 1; }
  WORK=$(mktemp -d /tmp/vpo-rbd.XXXXXX)
  trap 'rc=$?; rm -rf "$WORK"; exit $rc' EXIT
  VPO_ORACLE_INNER=1 VPO_ORACLE_WORK=$WORK \
    unshare --mount --net --pid --fork --mount-proc --propagation private bash "$0" &
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
SUBST=$WORK/subst
CEPH_DIR=$WORK/ceph
export LC_ALL=C
: > "$SUBST"
say() { printf '%s\n' "$*" >&2; }
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
    for s in $(virsh_q secret-list 2>/dev/null | awk '{print $1}'); do virsh_q secret-undefine "$s" >/dev/null 2>&1; done
  fi
  if [ -f "$WORK/libvirt/libvirtd.pid" ]; then
    pid=$(tr -dc 0-9 < "$WORK/libvirt/libvirtd.pid")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  "$repo/tests/services/ceph-down.sh" "$CEPH_DIR"
  exit "$rc"
}
trap inner_cleanup EXIT
trap 'exit 130' INT TERM

ip link set lo up
mount -t tmpfs -o mode=0755 vpo-run /run
mkdir -p /run/lock
private_dir() {
  local dir=$WORK/priv/$(echo "$1" | tr / _)
  mkdir -p "$dir" "$1"
  mount --bind "$dir" "$1"
}
private_dir /etc/libvirt/storage
private_dir /etc/libvirt/secrets
private_dir /var/lib/libvirt
private_dir /var/cache/libvirt
private_dir /var/log/libvirt

say "== ceph"
"$repo/tests/services/ceph-up.sh" "$CEPH_DIR" "$MON_PORT" >&2
KEY=$(cat "$CEPH_DIR/client.libvirt.key")
RBD=(rbd --conf "$CEPH_DIR/ceph.conf")

mkdir -p "$WORK/libvirt"
cat > "$WORK/libvirt/libvirtd.conf" <<CONF
listen_tls = 0
listen_tcp = 0
unix_sock_dir = "$WORK/libvirt"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$WORK/libvirt/libvirtd.log"
CONF
/usr/sbin/libvirtd --daemon --config "$WORK/libvirt/libvirtd.conf" --pid-file "$WORK/libvirt/libvirtd.pid"
for _ in $(seq 1 200); do
  [ -S "$WORK/libvirt/libvirt-sock" ] && virsh_q pool-capabilities >/dev/null 2>&1 && break
  sleep 0.1
done
virsh_q pool-capabilities >/dev/null

# Rewritten as a whole, except its README.md (written by hand).
mkdir -p "$OUT"
find "$OUT" -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
printf '%s\t@WORK@\n' "$(python3 -c 'import re,sys; print(re.escape(sys.argv[1]))' "$WORK")" >> "$SUBST"
printf '%s\t@KEY@\n' "$(python3 -c 'import re,sys; print(re.escape(sys.argv[1]))' "$KEY")" >> "$SUBST"
# libvirt names a clone's snapshot libvirt-<random number below 65535>
printf '%s\t%s\n' '(?<=@)libvirt-[0-9]+|libvirt-[0-9]+(?= )' '@SNAP@' >> "$SUBST"
# rbd info / snap ls: image ids and dates
printf '%s\t%s\n' '(?<=id: )[0-9a-f]+|(?<=rbd_data\.)[0-9a-f]+' '@ID@' >> "$SUBST"
printf '%s\t%s\n' '[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [0-9]{4}' '@DATE@' >> "$SUBST"
printf '@WORK@\t%s\n@KEY@\t%s\n@SNAP@\tlibvirt-N, N from 0 to 65534\n' "${#WORK}" "${#KEY}" > "$OUT/PLACEHOLDERS"
SEQ=0

# rec SCENARIO VIRSH-ARGS...: runs virsh and saves NN-SCENARIO.{cmd,out,err,rc}.
rec() {
  local scen=$1 base rc; shift
  SEQ=$((SEQ + 1))
  base=$OUT/$(printf '%02d' "$SEQ")-$scen
  printf 'virsh' > "$base.cmd"
  printf ' %q' "$@" >> "$base.cmd"
  printf '\n' >> "$base.cmd"
  set +e
  virsh -c "$URI" "$@" > "$base.out" 2> "$base.err"
  rc=$?
  set -e
  echo "$rc" > "$base.rc"
  python3 "$here/normalize.py" "$SUBST" "$base".{cmd,out,err}
  LAST=$base
  say "  $(basename "$base"): rc=$rc $(head -c 160 "$base.err" | tr '\n' ' ')"
}
# cluster SUFFIX RBD-ARGS...: what rbd (client.admin) shows after the last scenario, as LAST.SUFFIX.
cluster() {
  local suffix=$1; shift
  "${RBD[@]}" "$@" > "$LAST.$suffix" 2>&1 || echo "(rbd exit status $?)" >> "$LAST.$suffix"
  python3 "$here/normalize.py" "$SUBST" "$LAST.$suffix"
}
# xml NAME: stdin to $WORK/NAME.xml and a normalized copy to $OUT/NAME.xml.
xml() {
  cat > "$WORK/$1.xml"
  cp "$WORK/$1.xml" "$OUT/$1.xml"
  python3 "$here/normalize.py" "$SUBST" "$OUT/$1.xml"
}

SECRET=9a1b6a2e-5d2c-4b0c-8a55-2f0c8e0c0001
WRONG_SECRET=9a1b6a2e-5d2c-4b0c-8a55-2f0c8e0c0002
VOLUME_SECRET=9a1b6a2e-5d2c-4b0c-8a55-2f0c8e0c0003
EMPTY_SECRET=9a1b6a2e-5d2c-4b0c-8a55-2f0c8e0c0004
secret_xml() { # NAME UUID USAGE-XML
  xml "$1" <<EOF
<secret ephemeral='no' private='yes'>
  <uuid>$2</uuid>
  $3
</secret>
EOF
}
rbd_pool_xml() { # NAME AUTH-XML [EXTRA-SOURCE-XML] [PORT]
  xml "$1" <<EOF
<pool type='rbd'>
  <name>$1</name>
  <source>
    <host name='127.0.0.1' port='${4:-$MON_PORT}'/>
    <name>rbd</name>
    $2
    ${3:-}
  </source>
</pool>
EOF
}
AUTH="<auth type='ceph' username='libvirt'><secret usage='client.libvirt secret'/></auth>"

say "== rbd"
secret_xml ceph-secret "$SECRET" "<usage type='ceph'><name>client.libvirt secret</name></usage>"
rec secret-define secret-define "$WORK/ceph-secret.xml"
printf %s "$KEY" > "$WORK/libvirt.key"
rec secret-set-value secret-set-value "$SECRET" --file "$WORK/libvirt.key"
rbd_pool_xml rbdpool "$AUTH"
rec define pool-define "$WORK/rbdpool.xml"
rec dumpxml-inactive pool-dumpxml --inactive rbdpool
rec build pool-build rbdpool
rec start pool-start rbdpool
rec start-active-bad pool-start rbdpool
rec info pool-info rbdpool
rec dumpxml pool-dumpxml rbdpool
rec vol-list-empty vol-list rbdpool --details
rec vol-create-64m vol-create-as rbdpool vol1 64M
cluster rbdinfo info rbd/vol1
rec vol-create-sparse vol-create-as rbdpool vol2 10M --allocation 0
rec vol-create-odd-size vol-create-as rbdpool vol3 1537K --format raw
cluster rbdinfo info rbd/vol3
rec vol-create-qcow2-bad vol-create-as rbdpool volq 10M --format qcow2
rec vol-create-duplicate-bad vol-create-as rbdpool vol1 10M
rec vol-create-zero vol-create-as rbdpool vol0 0
xml volxml <<EOF
<volume>
  <name>volx</name>
  <capacity unit='M'>8</capacity>
  <allocation unit='M'>8</allocation>
  <target><format type='raw'/></target>
</volume>
EOF
rec vol-create-xml vol-create rbdpool "$WORK/volxml.xml"
rec vol-list vol-list rbdpool
rec vol-list-details vol-list rbdpool --details
rec vol-info vol-info vol1 --pool rbdpool
rec vol-info-bytes vol-info vol3 --pool rbdpool --bytes
rec vol-dumpxml vol-dumpxml vol1 --pool rbdpool
rec vol-path vol-path vol1 --pool rbdpool
rec vol-key vol-key vol1 --pool rbdpool
rec vol-name-by-path vol-name rbd/vol1
rec vol-info-by-key vol-info rbd/vol1
rec vol-info-missing-bad vol-info nosuch --pool rbdpool
rec refresh pool-refresh rbdpool
rec info-after-vols pool-info rbdpool
rec dumpxml-after-vols pool-dumpxml rbdpool

# data through rbd import, to see what allocation libvirt reports for a partly written image
head -c 3M /dev/urandom > "$WORK/data3m"
"${RBD[@]}" import --no-progress "$WORK/data3m" rbd/imported
rec refresh-imported pool-refresh rbdpool
rec vol-info-imported vol-info imported --pool rbdpool
rec vol-dumpxml-imported vol-dumpxml imported --pool rbdpool

rec vol-resize-grow vol-resize vol1 128M --pool rbdpool
rec vol-resize-delta vol-resize vol1 --delta 16M --pool rbdpool
rec vol-resize-shrink-no-flag-bad vol-resize vol1 32M --pool rbdpool
rec vol-resize-shrink-flag vol-resize vol1 32M --pool rbdpool --shrink
rec vol-resize-allocate-bad vol-resize vol1 256M --pool rbdpool --allocate
rec vol-info-after-resize vol-info vol1 --pool rbdpool --bytes
cluster rbdinfo info rbd/vol1

rec vol-clone vol-clone vol1 vol1clone --pool rbdpool
cluster snaps snap ls --all rbd/vol1
cluster rbdinfo info rbd/vol1clone
rec vol-list-after-clone vol-list rbdpool --details
rec vol-dumpxml-clone vol-dumpxml vol1clone --pool rbdpool
rec vol-info-clone vol-info vol1clone --pool rbdpool
rec vol-clone-duplicate-bad vol-clone vol1 vol1clone --pool rbdpool
rec vol-clone-imported vol-clone imported importedclone --pool rbdpool
"${RBD[@]}" export --no-progress rbd/importedclone "$WORK/clone-export"
if cmp -s "$WORK/data3m" "$WORK/clone-export"; then echo same > "$LAST.data"; else echo different > "$LAST.data"; fi

rec vol-wipe vol-wipe vol2 --pool rbdpool
rec vol-wipe-zero vol-wipe vol2 --pool rbdpool --algorithm zero
rec vol-wipe-trim vol-wipe vol2 --pool rbdpool --algorithm trim
rec vol-wipe-nnsa-bad vol-wipe vol2 --pool rbdpool --algorithm nnsa
rec vol-wipe-imported vol-wipe imported --pool rbdpool
"${RBD[@]}" export --no-progress rbd/imported "$WORK/wiped-export"
if cmp -s "$WORK/wiped-export" <(head -c "$(stat -c %s "$WORK/wiped-export")" /dev/zero); then echo zeros > "$LAST.data"; else echo not-zeros > "$LAST.data"; fi
rec vol-info-after-wipe vol-info imported --pool rbdpool

head -c 1M /dev/urandom > "$WORK/upload1m"
rec vol-upload-bad vol-upload vol2 "$WORK/upload1m" --pool rbdpool
rec vol-download-bad vol-download vol2 "$WORK/download" --pool rbdpool

# a parent with a clone: libvirt cannot delete it (the snapshot is protected), with or without snapshots
rec vol-delete-parent-of-clone-bad vol-delete vol1 --pool rbdpool
rec vol-delete-parent-of-clone-snapshots-bad vol-delete vol1 --pool rbdpool --delete-snapshots
cluster snaps snap ls --all rbd/vol1
rec vol-list-after-failed-delete vol-list rbdpool --details
rec vol-delete-clone vol-delete vol1clone --pool rbdpool
cluster snaps snap ls --all rbd/vol1
# the clone is gone, the protected snapshot it came from stays on the parent
rec vol-delete-parent-with-snapshot-bad vol-delete vol1 --pool rbdpool
rec vol-delete-parent-delete-snapshots vol-delete vol1 --pool rbdpool --delete-snapshots
cluster ls ls -l rbd
rec vol-delete vol-delete vol3 --pool rbdpool
rec vol-delete-missing-bad vol-delete nosuch --pool rbdpool
rec refresh-after-delete pool-refresh rbdpool
rec vol-list-after-delete vol-list rbdpool --details
rec destroy pool-destroy rbdpool
rec info-inactive pool-info rbdpool
rec vol-list-inactive-bad vol-list rbdpool
rec delete-bad pool-delete rbdpool
rec restart pool-start rbdpool
rec vol-list-after-restart vol-list rbdpool
rec destroy-again pool-destroy rbdpool
rec undefine pool-undefine rbdpool

say "== auth failures"
secret_xml wrong-secret "$WRONG_SECRET" "<usage type='ceph'><name>wrong key</name></usage>"
rec wrong-secret-define secret-define "$WORK/wrong-secret.xml"
printf %s AQDtGhdr0ftNLxAA4Sc793tNlR1EcrT/B8JPoQ== > "$WORK/wrong.key"
rec wrong-secret-set-value secret-set-value "$WRONG_SECRET" --file "$WORK/wrong.key"
rbd_pool_xml rbdwrongkey "<auth type='ceph' username='libvirt'><secret usage='wrong key'/></auth>"
rec wrong-key-define pool-define "$WORK/rbdwrongkey.xml"
rec wrong-key-start-bad pool-start rbdwrongkey
rec wrong-key-info pool-info rbdwrongkey
rec wrong-key-undefine pool-undefine rbdwrongkey

rbd_pool_xml rbdnosecret "<auth type='ceph' username='libvirt'><secret usage='no such secret'/></auth>"
rec missing-secret-define pool-define "$WORK/rbdnosecret.xml"
rec missing-secret-start-bad pool-start rbdnosecret
rec missing-secret-undefine pool-undefine rbdnosecret

rbd_pool_xml rbdnouuid "<auth type='ceph' username='libvirt'><secret uuid='9a1b6a2e-5d2c-4b0c-8a55-2f0c8e0c00ff'/></auth>"
rec missing-secret-uuid-define pool-define "$WORK/rbdnouuid.xml"
rec missing-secret-uuid-start-bad pool-start rbdnouuid
rec missing-secret-uuid-undefine pool-undefine rbdnouuid

secret_xml volume-secret "$VOLUME_SECRET" "<usage type='volume'><volume>/var/lib/libvirt/images/x.img</volume></usage>"
rec volume-secret-define secret-define "$WORK/volume-secret.xml"
rec volume-secret-set-value secret-set-value "$VOLUME_SECRET" --file "$WORK/libvirt.key"
rbd_pool_xml rbdvolsecret "<auth type='ceph' username='libvirt'><secret uuid='$VOLUME_SECRET'/></auth>"
rec volume-secret-pool-define pool-define "$WORK/rbdvolsecret.xml"
rec volume-secret-start-bad pool-start rbdvolsecret
rec volume-secret-undefine pool-undefine rbdvolsecret

secret_xml empty-secret "$EMPTY_SECRET" "<usage type='ceph'><name>no value</name></usage>"
rec empty-secret-define secret-define "$WORK/empty-secret.xml"
rbd_pool_xml rbdemptysecret "<auth type='ceph' username='libvirt'><secret usage='no value'/></auth>"
rec empty-secret-pool-define pool-define "$WORK/rbdemptysecret.xml"
rec empty-secret-start-bad pool-start rbdemptysecret
rec empty-secret-undefine pool-undefine rbdemptysecret

rbd_pool_xml rbdwronguser "<auth type='ceph' username='nosuchuser'><secret usage='client.libvirt secret'/></auth>"
rec wrong-user-define pool-define "$WORK/rbdwronguser.xml"
rec wrong-user-start-bad pool-start rbdwronguser
rec wrong-user-undefine pool-undefine rbdwronguser

rbd_pool_xml rbdnoauth ""
rec no-auth-define pool-define "$WORK/rbdnoauth.xml"
rec no-auth-start-bad pool-start rbdnoauth
rec no-auth-undefine pool-undefine rbdnoauth

xml rbdnopool <<EOF
<pool type='rbd'>
  <name>rbdnopool</name>
  <source>
    <host name='127.0.0.1' port='$MON_PORT'/>
    <name>nosuchpool</name>
    $AUTH
  </source>
</pool>
EOF
rec no-such-pool-define pool-define "$WORK/rbdnopool.xml"
rec no-such-pool-start-bad pool-start rbdnopool
rec no-such-pool-undefine pool-undefine rbdnopool

# nothing listens there: libvirt waits for its client_mount_timeout
rbd_pool_xml rbdnomon "$AUTH" "" 3399
rec no-mon-define pool-define "$WORK/rbdnomon.xml"
rec no-mon-start-bad pool-start rbdnomon
rec no-mon-undefine pool-undefine rbdnomon

say "== XML forms"
rec define-as pool-define-as rbdas rbd --source-host "127.0.0.1:$MON_PORT" --source-name rbd \
  --auth-type ceph --auth-username libvirt --secret-usage 'client.libvirt secret'
rec define-as-dumpxml pool-dumpxml --inactive rbdas
rec define-as-undefine pool-undefine rbdas
rec define-as-no-name-bad pool-define-as rbdasbad rbd --source-host 127.0.0.1
xml rbdconfig <<EOF
<pool type='rbd' xmlns:rbd='http://libvirt.org/schemas/storagepool/rbd/1.0'>
  <name>rbdconfig</name>
  <source>
    <host name='127.0.0.1' port='$MON_PORT'/>
    <host name='localhost'/>
    <name>rbd</name>
    $AUTH
  </source>
  <rbd:config_opts>
    <rbd:option name='rbd_default_features' value='1'/>
    <rbd:option name='rbd_default_order' value='20'/>
  </rbd:config_opts>
</pool>
EOF
rec config-define pool-define "$WORK/rbdconfig.xml"
rec config-dumpxml-inactive pool-dumpxml --inactive rbdconfig
rec config-start pool-start rbdconfig
rec config-vol-create vol-create-as rbdconfig volcfg 8M
cluster rbdinfo info rbd/volcfg
rec config-vol-delete vol-delete volcfg --pool rbdconfig
rec config-destroy pool-destroy rbdconfig
rec config-undefine pool-undefine rbdconfig
rec secret-undefine secret-undefine "$SECRET"

{
  echo "libvirtd --version: $(/usr/sbin/libvirtd --version)"
  echo "virsh --version: $(virsh --version)"
  echo "ceph --version: $(ceph --version)"
  dpkg-query -W -f '${Package} ${Version}\n' libvirt-daemon libvirt-clients libvirt-daemon-driver-storage-rbd ceph-mon ceph-osd librbd1 librados2 2>/dev/null
} > "$OUT/VERSIONS"
say "recorded $SEQ scenarios in $OUT"
