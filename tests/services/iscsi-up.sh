#!/usr/bin/env bash
# Start a private iSCSI target for tests: tgtd on 127.0.0.1:3260 (only), its LUNs sparse files in DIR.
#   target 1  iqn.2026-12.org.virtpool.test:plain  LUN 1 64 MiB (thin provisioned: UNMAP punches holes),
#                                                  LUN 2 32 MiB; no authentication
#   target 2  iqn.2026-12.org.virtpool.test:chap   LUN 1 16 MiB; CHAP user "virtpool", password in DIR/chap-password
# Both accept only the initiator address 127.0.0.1. tgt adds LUN 0 (a controller, size 0) to each.
#
# usage: tests/services/iscsi-up.sh DIR
# prints: KEY=VALUE lines (portal, IQNs, CHAP user and password, backing files; also in DIR/iscsi.env)
# stop:   tests/services/iscsi-down.sh DIR  (also after a failed start; leaves DIR and the LUN files)
#
# Running it again on the same DIR after iscsi-down.sh restarts the target on the same LUN files, with
# their data (a test's "the server came back"). tgtd is one per machine (control socket
# /var/run/tgtd/socket.0, port 3260): when another one runs, this refuses instead of sharing it.
set -euo pipefail

die() { echo "iscsi-up: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: iscsi-up.sh DIR"
mkdir -p "$1"
WORK="$(cd "$1" && pwd)"
command -v tgtd >/dev/null && command -v tgtadm >/dev/null || die "tgtd not found: install tgt (scripts/install-deps.sh)"

PORT=3260
PORTAL="127.0.0.1:$PORT"
IQN_PLAIN=iqn.2026-12.org.virtpool.test:plain
IQN_CHAP=iqn.2026-12.org.virtpool.test:chap
CHAP_USER=virtpool
[ -s "$WORK/chap-password" ] || od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > "$WORK/chap-password"
CHAP_PASSWORD="$(cat "$WORK/chap-password")"   # 16 hex digits: tgt wants 12 or more characters
TGTADM=(tgtadm --lld iscsi)

if other=$(pgrep -x tgtd); then
  die "another tgtd is running (pid $(echo $other)); tgtd is one per machine, stop that one first"
fi

# A sparse backing file, made once: a restart keeps the data the LUN had.
backing() { [ -f "$2" ] || truncate -s "$1" "$2"; }
backing 64M "$WORK/plain-lun1.img"
backing 32M "$WORK/plain-lun2.img"
backing 16M "$WORK/chap-lun1.img"

answering() { "${TGTADM[@]}" --mode target --op show >/dev/null 2>&1; }
wait_for() {  # polls a condition, at most ~20 s
  for _ in $(seq 1 100); do
    if "$@"; then return 0; fi
    sleep 0.2
  done
  return 1
}

# tgtd forks and writes its pid file; a start can fail while the last one's port is still held, so
# it is retried a few times before failing loudly.
started=0
for attempt in 1 2 3; do
  rm -f "$WORK/tgtd.pid"
  if tgtd -p "$WORK/tgtd.pid" --iscsi "portal=$PORTAL" >>"$WORK/tgtd.log" 2>&1 &&
     wait_for answering && [ -s "$WORK/tgtd.pid" ]; then
    started=1; break
  fi
  echo "iscsi-up: tgtd start attempt $attempt failed (see $WORK/tgtd.log)" >&2
  if [ -s "$WORK/tgtd.pid" ]; then kill -KILL "$(cat "$WORK/tgtd.pid")" 2>/dev/null || true; fi
  sleep 1
done
[ $started = 1 ] || die "tgtd did not start on $PORTAL (see $WORK/tgtd.log)"

"${TGTADM[@]}" --mode target --op new --tid 1 --targetname "$IQN_PLAIN"
"${TGTADM[@]}" --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$WORK/plain-lun1.img"
"${TGTADM[@]}" --mode logicalunit --op update --tid 1 --lun 1 --params thin_provisioning=1
"${TGTADM[@]}" --mode logicalunit --op new --tid 1 --lun 2 --backing-store "$WORK/plain-lun2.img"
"${TGTADM[@]}" --mode target --op bind --tid 1 --initiator-address 127.0.0.1

"${TGTADM[@]}" --mode target --op new --tid 2 --targetname "$IQN_CHAP"
"${TGTADM[@]}" --mode logicalunit --op new --tid 2 --lun 1 --backing-store "$WORK/chap-lun1.img"
"${TGTADM[@]}" --mode target --op bind --tid 2 --initiator-address 127.0.0.1
"${TGTADM[@]}" --mode account --op new --user "$CHAP_USER" --password "$CHAP_PASSWORD"
"${TGTADM[@]}" --mode account --op bind --tid 2 --user "$CHAP_USER"

# Healthy when an initiator can log in to both targets and read a LUN's size.
readable() { iscsi-readcapacity16 "$1" >/dev/null 2>&1; }
wait_for readable "iscsi://$PORTAL/$IQN_PLAIN/1" || die "cannot read LUN 1 of $IQN_PLAIN (see $WORK/tgtd.log)"
wait_for readable "iscsi://$CHAP_USER%$CHAP_PASSWORD@$PORTAL/$IQN_CHAP/1" || die "cannot log in to $IQN_CHAP with CHAP"

cat > "$WORK/iscsi.env" <<ENV
PORTAL=$PORTAL
IQN_PLAIN=$IQN_PLAIN
IQN_CHAP=$IQN_CHAP
CHAP_USER=$CHAP_USER
CHAP_PASSWORD=$CHAP_PASSWORD
PLAIN_LUN1=$WORK/plain-lun1.img
PLAIN_LUN2=$WORK/plain-lun2.img
CHAP_LUN1=$WORK/chap-lun1.img
ENV
cat "$WORK/iscsi.env"
