#!/usr/bin/env bash
# virtpoold's memory under hostile clients, beside libvirtd 9.0 (issue 10 section 2). Needs root.
#   flood:     64 read-only connections each send 15 MiB of a 16 MiB frame and wait, then close
#              goals: peak RSS <= 400 MiB; <= 64 MiB 30 s after they close
#   flood-late: 5 connections (all virtpoold's default budget holds at once, so none waits and nothing
#              allocates when they close) each send 15 MiB of a 16 MiB frame; they close 5 s after the
#              daemon took it all: is the memory given back without a new burst of allocation?
#              goal: <= 64 MiB 30 s after they close. (With 64 clients the ones left waiting are let in
#              when the first close, and their allocations alone would trigger the trim.)
#   unread:    one client sends pool-list calls and never reads the replies, then one sends PINGs and
#              never reads the PONGs, each until the daemon stops taking them (5 s), 60 s or 400,000
#              goal: the daemon stops reading them, RSS stays near idle
#   fuzz:      60 s of mutated storage calls after a valid handshake, then 30 s idle
#              goal: RSS <= 80 MiB after the idle 30 s
#   idle:      3000 connections open read-only and idle (memory per connection), then 3000 that never open
#   slowloris: 200 connections trickle a 16 MiB frame a byte a second for 60 s (are they dropped?)
#   throughout: virsh pool-list once a second, worst latency (goal: answered quickly, no failures)
# Each daemon runs alone for its tests, with a fresh process per test; both get the same load.
# Usage: bench/daemon-memory.sh [--virtpoold BINARY] [--only vp|lv] [--tests "flood flood-late unread fuzz idle slowloris"]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
daemon=
only=
tests="flood flood-late unread fuzz idle slowloris"
fuzz_seconds=60
while [ $# -gt 0 ]; do
  case "$1" in
    --virtpoold) daemon=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --tests) tests=$2; shift 2 ;;
    --fuzz-seconds) fuzz_seconds=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /var/tmp/virtpool-bench-memory.XXXXXX)
vp_pid=
cleanup() {
  [ -n "$vp_pid" ] && kill "$vp_pid" 2>/dev/null && wait "$vp_pid" 2>/dev/null || true
  "$root/scripts/libvirtd-down.sh" "$work/lv" || true
  rm -rf "$work"
}
trap cleanup EXIT
# 3000 connections: both daemons (and the load generator) inherit this limit.
ulimit -n "$(ulimit -Hn)"

if [ -z "$daemon" ]; then
  "$root/virtpoold" --help >/dev/null 2>&1 || true   # builds the NativeAOT daemon when needed
  daemon="$root/artifacts/daemon/virtpoold"
fi
load="python3 $root/bench/daemon_memory.py"

start_vp() {
  rm -rf "$work/vp"; mkdir -p "$work/vp"
  "$daemon" --socket "$work/vp/sock" --state-dir "$work/vp/state" --pid-file "$work/vp/pid" >"$work/vp/log" 2>&1 &
  vp_pid=$!
  for _ in $(seq 1 300); do [ -S "$work/vp/sock" ] && virsh -q -c "$vp_uri" uri >/dev/null 2>&1 && break; sleep 0.05; done
  pool_setup "$vp_uri" "$work/vp/pool"
}
stop_vp() { kill "$vp_pid"; wait "$vp_pid" 2>/dev/null || true; vp_pid=; }
vp_uri="qemu+unix:///system?socket=$work/vp/sock"

start_lv() {
  "$root/scripts/libvirtd-down.sh" "$work/lv" >/dev/null 2>&1 || true
  rm -rf "$work/lv"
  lv_uri=$("$root/scripts/libvirtd-up.sh" "$work/lv")
  pool_setup "$lv_uri" "$work/lv/pool"
}
stop_lv() { "$root/scripts/libvirtd-down.sh" "$work/lv"; }

# A running pool with a few volumes, so the fuzzed lookups also hit real ones.
pool_setup() {
  virsh -q -c "$1" pool-create-as bench dir --target "$2" --build >/dev/null
  for i in 1 2 3; do virsh -q -c "$1" vol-create-as bench "vol$i.img" 1M >/dev/null; done
}

declare -A result
run_side() {
  local side=$1 test=$2 pid rw ro
  if [ "$side" = vp ]; then start_vp; pid=$vp_pid; rw="$work/vp/sock"; ro="$work/vp/sock-ro"
  else start_lv; pid=$(cat "$work/lv/libvirtd.pid"); rw="$work/lv/libvirt-sock"; ro="$work/lv/libvirt-sock-ro"; fi
  local args=()
  [ "$test" = fuzz ] && args=("$fuzz_seconds")
  [ "$test" = slowloris ] && args=(60)
  [ "$test" = flood-late ] && args=(5 5)
  echo "-- $side $test" >&2
  while read -r key value; do
    result["$side.$key"]=$value
  done < <($load "$test" "$pid" "$rw" "$ro" "${args[@]}")
  if [ "$side" = vp ]; then
    result["vp.$test.log_lines"]=$(wc -l <"$work/vp/log")
    stop_vp
  else
    result["lv.$test.log_lines"]=$(wc -l <"$work/lv/libvirtd.log")
    stop_lv
  fi
}

sides="lv vp"
[ -n "$only" ] && sides=$only
for test in $tests; do
  for side in $sides; do run_side "$side" "$test"; done
done

val() { echo "${result[$1]:-n/a}"; }
ratio() { python3 -c "import sys; a,b=sys.argv[1],sys.argv[2]; print('n/a' if 'n/a' in (a,b) or float(b)==0 else f'{float(a)/float(b):.2f}')" "$1" "$2"; }
goal() { python3 -c "import sys; v=sys.argv[1]; print('n/a' if v=='n/a' else ('met' if float(v) $2 float(sys.argv[2]) else 'NOT met'))" "$1" "$3"; }
row() { printf '%-44s %12s %12s %8s\n' "$1" "$(val "lv.$2")" "$(val "vp.$2")" "$(ratio "$(val "vp.$2")" "$(val "lv.$2")")"; }

printf '\n%-44s %12s %12s %8s\n' "" "libvirtd" "virtpoold" "vp/lv"
for test in $tests; do
  case $test in
    flood)
      echo "== flood: 64 x 15 MiB of a 16 MiB frame (read-only socket) =="
      row "RSS before (MiB)" flood_idle_before
      row "peak RSS while they wait (MiB)" flood_peak_rss
      row "bytes the daemon took (MiB)" flood_sent_mib
      row "RSS 30 s after they closed (MiB)" flood_rss_30s_after_close
      row "virsh pool-list worst (ms)" flood_virsh_max_ms
      row "virsh pool-list median (ms)" flood_virsh_median_ms
      row "virsh failures" flood_virsh_failures
      echo "goal peak <= 400 MiB: $(goal "$(val vp.flood_peak_rss)" '<=' 400)   goal <= 64 MiB 30 s after: $(goal "$(val vp.flood_rss_30s_after_close)" '<=' 64)"
      ;;
    flood-late)
      echo "== flood-late: 5 x 15 MiB of a 16 MiB frame, closed 5 s after the daemon took them =="
      row "RSS before (MiB)" flood_late_idle_before
      row "peak RSS (MiB)" flood_late_peak_rss
      row "bytes the daemon took (MiB)" flood_late_sent_mib
      row "RSS just before they closed (MiB)" flood_late_rss_before_close
      row "RSS 30 s after they closed (MiB)" flood_late_rss_30s_after_close
      row "virsh pool-list worst (ms)" flood_late_virsh_max_ms
      row "virsh failures" flood_late_virsh_failures
      echo "goal <= 64 MiB 30 s after: $(goal "$(val vp.flood_late_rss_30s_after_close)" '<=' 64)"
      ;;
    unread)
      echo "== unread: a client never reads its replies, then one never reads its PONGs (up to 60 s each) =="
      row "RSS before (MiB)" unread_idle_before
      row "pool-list calls the daemon took" unread_calls_taken
      row "RSS after them (MiB)" unread_calls_rss
      row "PINGs the daemon took" unread_pings_taken
      row "RSS after them (MiB)" unread_pings_rss
      row "virsh pool-list worst (ms)" unread_virsh_max_ms
      row "virsh failures" unread_virsh_failures
      ;;
    fuzz)
      echo "== fuzz: ${fuzz_seconds} s of mutated storage calls, 4 clients, then 30 s idle =="
      row "RSS before (MiB)" fuzz_idle_before
      row "calls answered" fuzz_calls
      row "peak RSS (MiB)" fuzz_peak_rss
      row "RSS at the end (MiB)" fuzz_rss_at_end
      row "RSS after 30 s idle (MiB)" fuzz_rss_30s_idle
      row "replies with an internal error" fuzz_internal_errors
      row "daemon log lines" fuzz.log_lines
      row "virsh pool-list worst (ms)" fuzz_virsh_max_ms
      row "virsh pool-list median (ms)" fuzz_virsh_median_ms
      row "virsh failures" fuzz_virsh_failures
      echo "goal <= 80 MiB after 30 s idle: $(goal "$(val vp.fuzz_rss_30s_idle)" '<=' 80)"
      ;;
    idle)
      echo "== idle: 3000 connections opened read-only, then 3000 never opened =="
      row "connections held" idle_connections_held
      row "connections refused" idle_refused
      row "RSS with them (MiB)" idle_rss_with_connections
      row "KiB per connection" idle_kib_per_connection
      row "RSS 10 s after they closed (MiB)" idle_rss_10s_after_close
      row "never-opened connections held after 10 s" idle_unopened_held
      row "RSS with the never-opened ones (MiB)" idle_unopened_rss
      row "virsh pool-list worst (ms)" idle_virsh_max_ms
      row "virsh pool-list median (ms)" idle_virsh_median_ms
      row "virsh failures" idle_virsh_failures
      ;;
    slowloris)
      echo "== slowloris: 200 connections trickle a frame a byte a second, 60 s =="
      row "connections still held after 60 s" slowloris_held_after_60s
      row "RSS (MiB)" slowloris_rss
      row "virsh pool-list worst (ms)" slowloris_virsh_max_ms
      row "virsh pool-list median (ms)" slowloris_virsh_median_ms
      row "virsh failures" slowloris_virsh_failures
      ;;
  esac
done
