#!/usr/bin/env bash
# Regenerates the expected outputs of the volume XML cases from a real libvirtd 9.0.
#
#   origin libvirtd-test: the daemon's test driver (test+unix://) creates the case's pool from
#     pools/POOL.xml and the volume from cases/CASE.xml in one connection; vol-dumpxml then prints
#     libvirt's parse + format of the definition with only key and target path replaced
#     (KEYPREFIX/NAME). Output goes to cases/CASE.out.xml, or the error to cases/CASE.err.
#   origin libvirtd-dir: a real dir pool (storage driver, files on disk) at /tmp/vx-probed-pool;
#     vol-dumpxml shows probed capacity, allocation, physical, permissions and timestamps, which the
#     test takes from probed/CASE.out.xml and applies to the parsed definition. probed/CASE.pre.xml,
#     when present, is created first (a backing file).
#   origin derived: no libvirt entry point parses with these flags; expectations are written by hand.
#
# Usage: regen.sh [SOCKET_DIR]   (default /tmp/oracle; start it with scripts/libvirtd-up.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sock=${1:-/tmp/oracle}
test_uri="test+unix:///default?socket=$sock/libvirt-sock"
real_uri="qemu+unix:///system?socket=$sock/libvirt-sock"

vol_name() {
  python3 -c 'import sys, xml.etree.ElementTree as E
try:
    n = E.parse(sys.argv[1]).getroot().find("name")
except E.ParseError:
    n = None
print("".join(n.itertext()) if n is not None else "x", end="")' "$1"
}

# virsh's command-line tokenizer: single-quote, with ' written as '\''.
vq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

write_result() { # out err case dir
  local out=$1 err=$2 case=$3 dir=$4
  rm -f "$dir/$case.out.xml" "$dir/$case.err"
  if grep -q '^error: Failed to create vol' <<<"$err"; then
    # the message: the line after "Failed to create vol", continued by lines not starting with "error: "
    awk '/^error: Failed to create vol/ {on=1; next} on == 1 {sub(/^error: /, ""); print; on=2; next}
         on == 2 && /^error: / {exit} on == 2 {print}' <<<"$err" > "$dir/$case.err"
  else
    printf '%s' "$out" > "$dir/$case.out.xml"
  fi
}

while IFS=$'\t' read -r case pool prefix flags origin; do
  [[ -z "$case" || "$case" == \#* ]] && continue
  case "$origin" in
    libvirtd-test)
      f="$here/cases/$case.xml"
      pname="vx-$pool"
      cmd="pool-create $(vq "$here/pools/$pool.xml"); vol-create $pname $(vq "$f"); vol-dumpxml --pool $pname $(vq "$(vol_name "$f")")"
      out=$(virsh -q -c "$test_uri" "$cmd" 2>/tmp/vx-regen.err; printf x) || true
      write_result "${out%x}" "$(cat /tmp/vx-regen.err)" "$case" "$here/cases"
      ;;
    libvirtd-dir)
      f="$here/probed/$case.xml"
      mkdir -p /tmp/vx-probed-pool
      virsh -q -c "$real_uri" pool-create-as vx-probed dir --target /tmp/vx-probed-pool >/dev/null
      if [[ -f "$here/probed/$case.pre.xml" ]]; then
        virsh -q -c "$real_uri" vol-create vx-probed "$here/probed/$case.pre.xml" >/dev/null
      fi
      err=$(virsh -q -c "$real_uri" vol-create vx-probed "$f" 2>&1 >/dev/null) || true
      out=$(virsh -q -c "$real_uri" vol-dumpxml --pool vx-probed "$(vol_name "$f")" 2>/dev/null; printf x) || true
      write_result "${out%x}" "$err" "$case" "$here/probed"
      virsh -q -c "$real_uri" pool-destroy vx-probed >/dev/null
      rm -rf /tmp/vx-probed-pool
      ;;
  esac
done < "$here/cases.tsv"
rm -f /tmp/vx-regen.err
