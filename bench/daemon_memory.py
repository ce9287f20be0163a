#!/usr/bin/python3
"""Load generator and meter for bench/daemon-memory.sh: hostile clients against any libvirt-protocol
daemon (virtpoold or libvirtd), with the daemon's RSS sampled and virsh timed while they run.

Usage: daemon_memory.py flood|flood-late|unread|fuzz|idle|slowloris PID RW_SOCKET RO_SOCKET [SECONDS]
Prints "key value" lines (RSS in MiB, latencies in ms) for the shell script to tabulate.

  flood      64 connections open read-only, then each sends 15 MiB of a 16 MiB frame and waits;
             then all close. Peak RSS while they wait, RSS 30 s after they closed.
  flood-late CLIENTS (5) connections send 15 MiB of a 16 MiB frame each and close SECONDS (5) after
             the daemon stopped taking bytes, long after its allocations: is the memory given
             back without a new burst?
  unread     one client sends CONNECT_LIST_ALL_STORAGE_POOLS calls and never reads the replies, then
             another sends keepalive PINGs and never reads the PONGs; each until the daemon takes
             nothing for 5 s, or SECONDS (60), or 400,000 of them (a daemon that takes them all
             would grow by GiBs). How many it took, RSS after each.
  fuzz       SECONDS of mutated storage calls after a valid handshake (lookups, vol-info, XML
             with long and odd strings; flipped bytes; bad lengths), then 30 s idle.
  idle       3000 connections that open read-only and idle; RSS with them, per connection;
             then 3000 that connect and never open: how many are still held after 10 s.
  slowloris  200 connections that trickle a frame a byte a second; how many are still held
             after SECONDS, RSS.
Every mode also runs `virsh pool-list` once a second throughout and reports its worst latency.
"""
import os
import random
import resource
import select
import socket
import struct
import subprocess
import sys
import threading
import time

PROGRAM = 0x20008086
CALL, REPLY = 0, 1
AUTH_LIST, CONNECT_OPEN = 66, 1
POOL_LOOKUP_BY_NAME, POOL_GET_INFO, POOL_GET_XML = 84, 87, 88
VOL_LOOKUP_BY_NAME, VOL_LOOKUP_BY_KEY, VOL_LOOKUP_BY_PATH = 95, 96, 97
VOL_GET_INFO, VOL_GET_XML, VOL_GET_PATH = 98, 99, 100
POOL_LOOKUP_BY_TARGET_PATH, VOL_GET_INFO_FLAGS = 391, 378
MAX_LENGTH = 16 * 1024 * 1024 + 4
CONNECT_LIST_ALL_POOLS = 281
KEEPALIVE, KEEPALIVE_PING, MESSAGE = 0x6B656570, 1, 2
# Bisecting a leak: FUZZ_ONLY=0,4 limits the fuzz to those call kinds (see fuzz_call).
FUZZ_ONLY = [int(x) for x in os.environ["FUZZ_ONLY"].split(",")] if os.environ.get("FUZZ_ONLY") else None


def frame(proc, serial, payload=b"", program=PROGRAM, kind=CALL, length=None):
    header = struct.pack(">IIiiIi", program, 1, proc, kind, serial, 0)
    return struct.pack(">I", length if length is not None else 28 + len(payload)) + header + payload


def xstr(data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(data)) + data + b"\0" * (-len(data) % 4)


def pool_arg(name):
    return xstr(name) + bytes(16)


def vol_arg(pool, name, key):
    return xstr(pool) + xstr(name) + xstr(key)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return bytes(buf)


def read_packet(sock):
    length = struct.unpack(">I", recv_exact(sock, 4))[0]
    body = recv_exact(sock, length - 4)
    _prog, _vers, _proc, kind, serial, status = struct.unpack(">IIiiIi", body[:24])
    return kind, serial, status, body[24:]


def internal_error(status, payload):
    """An ERROR reply with VIR_ERR_INTERNAL_ERROR (1): what a server answers when it did not expect the input."""
    if not (status == 1 and len(payload) >= 4 and struct.unpack(">i", payload[:4])[0] == 1):
        return False
    if os.environ.get("FUZZ_SHOW_INTERNAL") and len(payload) >= 16 and struct.unpack(">I", payload[8:12])[0] == 1:
        size = struct.unpack(">I", payload[12:16])[0]
        print("internal error:", payload[16:16 + min(size, 200)].decode("utf-8", "replace"), file=sys.stderr)
    return True


def handshake(sock):
    sock.sendall(frame(AUTH_LIST, 1) + frame(CONNECT_OPEN, 2, struct.pack(">I", 1) + xstr("qemu:///system") + struct.pack(">I", 1)))
    got = 0
    while got < 2:
        kind, _serial, status, _payload = read_packet(sock)
        if kind == REPLY:
            if status != 0:
                raise ConnectionError("open refused")
            got += 1


def connect(path, timeout=10.0):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    return sock


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Meter:
    """Samples RSS every 100 ms and times `virsh pool-list` once a second, in the background."""

    def __init__(self, pid, rw_socket):
        self.pid, self.uri = pid, f"qemu+unix:///system?socket={rw_socket}"
        self.peak = 0.0
        self.latencies = []
        self.virsh_failures = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._rss, daemon=True), threading.Thread(target=self._virsh, daemon=True)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        for t in self._threads:
            t.join()

    def _rss(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            self._stop.wait(0.1)

    def _virsh(self):
        env = dict(os.environ, LC_ALL="C")
        env.pop("LIBVIRT_DEFAULT_URI", None)
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                ok = subprocess.run(["virsh", "-q", "-c", self.uri, "pool-list", "--all"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60).returncode == 0
            except subprocess.TimeoutExpired:
                ok = False
            elapsed = time.monotonic() - start
            if ok:
                self.latencies.append(elapsed)
            else:
                self.virsh_failures += 1
            self._stop.wait(max(0.0, 1.0 - elapsed))

    def report(self, prefix):
        lat = sorted(self.latencies) or [float("nan")]
        print(f"{prefix}_peak_rss {self.peak:.1f}")
        print(f"{prefix}_virsh_max_ms {lat[-1] * 1000:.0f}")
        print(f"{prefix}_virsh_median_ms {lat[len(lat) // 2] * 1000:.0f}")
        print(f"{prefix}_virsh_failures {self.virsh_failures}")


def settle(pid, seconds):
    """RSS after `seconds` of idleness."""
    time.sleep(seconds)
    return rss_mib(pid)


def flood_connections(ro, connections):
    socks = []
    for _ in range(connections):
        s = connect(ro)
        handshake(s)
        s.setblocking(False)
        socks.append(s)
    return socks


def send_partial_frames(socks, send, hold=None, stalled=None):
    """Each socket sends a 16 MiB CALL whose last MiB never comes (the header is valid), up to `send`
    bytes; for `hold` seconds, or until no socket took a byte for `stalled` seconds (the daemon stopped
    reading them). Returns (bytes sent, connections the server closed)."""
    head = frame(POOL_LOOKUP_BY_NAME, 10, length=MAX_LENGTH)
    chunk = bytes(1 << 20)
    sent = {s: 0 for s in socks}
    pending = {s: head for s in socks}
    closed_by_server = 0
    deadline = time.monotonic() + hold if hold is not None else None
    progress = time.monotonic()
    while deadline is None or time.monotonic() < deadline:
        if stalled is not None and time.monotonic() - progress > stalled:
            break
        writers = [s for s in socks if sent[s] < send]
        if not writers:
            if stalled is not None:
                break
            time.sleep(0.2)
            continue
        _, ready, _ = select.select([], writers, [], 0.2)
        for s in ready:
            data = pending[s] or chunk[: min(len(chunk), send - sent[s])]
            try:
                n = s.send(data)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                sent[s] = send  # the server closed it
                closed_by_server += 1
                continue
            sent[s] += n
            pending[s] = data[n:] if pending[s] else b""
            progress = time.monotonic()
    return sum(min(v, send) for v in sent.values()), closed_by_server


def flood(pid, rw, ro, hold=20.0, connections=64, send=15 * 1024 * 1024):
    print(f"flood_idle_before {rss_mib(pid):.1f}")
    socks = flood_connections(ro, connections)
    with Meter(pid, rw) as meter:
        total, closed_by_server = send_partial_frames(socks, send, hold=hold)
        for s in socks:
            s.close()
        closed_at = time.monotonic()
        after = settle(pid, 30.0 - (time.monotonic() - closed_at))
    meter.report("flood")
    print(f"flood_sent_mib {total / 1048576:.0f}")
    print(f"flood_closed_by_server {closed_by_server}")
    print(f"flood_rss_30s_after_close {after:.1f}")


def flood_late(pid, rw, ro, wait=5.0, connections=5, send=15 * 1024 * 1024):
    print(f"flood_late_idle_before {rss_mib(pid):.1f}")
    socks = flood_connections(ro, int(connections))
    with Meter(pid, rw) as meter:
        total, closed_by_server = send_partial_frames(socks, send, stalled=3.0)
        time.sleep(wait)
        before_close = rss_mib(pid)
        for s in socks:
            s.close()
        closed_at = time.monotonic()
        after = settle(pid, 30.0 - (time.monotonic() - closed_at))
    meter.report("flood_late")
    print(f"flood_late_sent_mib {total / 1048576:.0f}")
    print(f"flood_late_closed_by_server {closed_by_server}")
    print(f"flood_late_rss_before_close {before_close:.1f}")
    print(f"flood_late_rss_30s_after_close {after:.1f}")


def unread(pid, rw, ro, seconds=60.0):
    print(f"unread_idle_before {rss_mib(pid):.1f}")
    kinds = {"calls": frame(CONNECT_LIST_ALL_POOLS, 3, struct.pack(">iI", -1, 0)),
             "pings": frame(KEEPALIVE_PING, 0, program=KEEPALIVE, kind=MESSAGE)}
    with Meter(pid, rw) as meter:
        for name, packet in kinds.items():
            s = connect(ro)
            handshake(s)
            s.setblocking(False)
            batch, pending, taken = packet * 100, b"", 0
            start = progress = time.monotonic()
            while time.monotonic() - progress < 5 and time.monotonic() - start < seconds and taken < len(packet) * 400000:
                select.select([], [s], [], 0.5)
                data = pending or batch
                try:
                    n = s.send(data)
                except BlockingIOError:
                    continue
                taken += n
                pending = data[n:]
                progress = time.monotonic()
            print(f"unread_{name}_taken {taken // len(packet)}")
            print(f"unread_{name}_rss {rss_mib(pid):.1f}")
            s.close()
    meter.report("unread")


ODD = ["", ".", "..", "/", "//", "../../etc/passwd", "a/b", "\u00e9\u00e8", "\U0001f4a9", "\x00", "\x7f", "%s%n", "\\", " ", "\t\n",
       "bench", "vol1.img", "x" * 255, "y" * 256, "z" * 4096]


def odd_string(rng):
    r = rng.random()
    if r < 0.3:
        return rng.choice(ODD)
    if r < 0.9:
        size = rng.choice([8, 32, 100, 255, 256, 300, 1000, 4096])
    else:
        size = rng.choice([16384, 65536, 262144])
    alphabet = "abcXYZ019._-/ \u00e9%"
    s = "".join(rng.choice(alphabet) for _ in range(min(size, 64)))
    return (s * (size // len(s) + 1))[:size] if s else s


def fuzz_call(rng, serial, pool):
    """A storage call with odd strings, sometimes with its payload mutated."""
    name, other = odd_string(rng), odd_string(rng)
    choice = rng.randrange(10) if FUZZ_ONLY is None else rng.choice(FUZZ_ONLY)
    if choice == 0:
        proc, payload = POOL_LOOKUP_BY_NAME, xstr(name)
    elif choice == 1:
        proc, payload = VOL_LOOKUP_BY_NAME, pool_arg(rng.choice([pool, name])) + xstr(other)
    elif choice == 2:
        proc, payload = VOL_LOOKUP_BY_KEY, xstr("/" + name)
    elif choice == 3:
        proc, payload = VOL_LOOKUP_BY_PATH, xstr("/" + name + "/" + other)
    elif choice == 4:
        proc, payload = VOL_GET_INFO, vol_arg(rng.choice([pool, name]), other, "/" + other)
    elif choice == 5:
        proc, payload = VOL_GET_XML, vol_arg(rng.choice([pool, name]), other, name) + struct.pack(">I", 0)
    elif choice == 6:
        proc, payload = POOL_GET_INFO, pool_arg(name)
    elif choice == 7:
        proc, payload = POOL_GET_XML, pool_arg(name) + struct.pack(">I", rng.randrange(4))
    elif choice == 8:
        proc, payload = VOL_GET_PATH, vol_arg(rng.choice([pool, name]), other, other)
    else:
        proc, payload = POOL_LOOKUP_BY_TARGET_PATH, xstr("/" + name)
    r = rng.random()
    if r < 0.15 and payload:
        data = bytearray(payload)
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        payload = bytes(data)
    elif r < 0.25:
        payload = payload[: rng.randrange(len(payload) + 1)]
    elif r < 0.30:
        payload = payload + os.urandom(rng.randrange(1, 64))
    elif r < 0.35:
        proc = rng.randrange(-5, 600)
    return frame(proc, serial, payload)


def fuzz_worker(ro, rw, seconds, seed, pool, out):
    rng = random.Random(seed)
    calls = fatal = reconnects = internal = 0
    deadline = time.monotonic() + seconds
    sock = None
    serial = 100
    while time.monotonic() < deadline:
        try:
            if sock is None:
                sock = connect(rng.choice([ro, rw]))
                handshake(sock)
            if rng.random() < 0.01:
                # A fatal frame: a length word out of range; the daemon must drop the connection.
                sock.sendall(struct.pack(">I", rng.choice([0, 3, 27, MAX_LENGTH + 1, 0xFFFFFFFF])) + os.urandom(24))
                fatal += 1
                sock.close()
                sock = None
                continue
            batch = 10
            data = b"".join(fuzz_call(rng, serial + i, pool) for i in range(batch))
            serial += batch
            sock.sendall(data)
            replies = 0
            while replies < batch:
                kind, _s, status, payload = read_packet(sock)
                if kind == REPLY:
                    replies += 1
                    internal += internal_error(status, payload)
            calls += batch
        except (OSError, ConnectionError):
            reconnects += 1
            if sock is not None:
                sock.close()
            sock = None
    if sock is not None:
        sock.close()
    out.append((calls, fatal, reconnects, internal))


def fuzz(pid, rw, ro, seconds=60.0, workers=4, pool="bench"):
    print(f"fuzz_idle_before {rss_mib(pid):.1f}")
    results = []
    threads = [threading.Thread(target=fuzz_worker, args=(ro, rw, seconds, 1000 + i, pool, results)) for i in range(workers)]
    with Meter(pid, rw) as meter:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        end_rss = rss_mib(pid)
    after = settle(pid, 30.0)
    meter.report("fuzz")
    print(f"fuzz_calls {sum(r[0] for r in results)}")
    print(f"fuzz_fatal_frames {sum(r[1] for r in results)}")
    print(f"fuzz_unexpected_disconnects {sum(r[2] for r in results)}")
    print(f"fuzz_internal_errors {sum(r[3] for r in results)}")
    print(f"fuzz_rss_at_end {end_rss:.1f}")
    print(f"fuzz_rss_30s_idle {after:.1f}")


def count_alive(socks):
    """How many of `socks` the daemon still holds open (a closed one reads EOF at once)."""
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            alive += 0 if s.recv(1) == b"" else 1
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def idle(pid, rw, ro, count=3000, hold=10.0):
    before = rss_mib(pid)
    print(f"idle_before {before:.1f}")
    socks = []
    refused = 0
    with Meter(pid, rw) as meter:
        for _ in range(count):
            try:
                s = connect(ro, timeout=5)
                handshake(s)
                socks.append(s)
            except (OSError, ConnectionError):
                refused += 1
        time.sleep(hold)
        with_them = rss_mib(pid)
        alive = count_alive(socks)
        for s in socks:
            s.close()
        after = settle(pid, 10.0)

        # The same number that connect and never open (send nothing at all).
        unopened = []
        for _ in range(count):
            try:
                unopened.append(connect(ro, timeout=5))
            except OSError:
                pass
        time.sleep(hold)
        unopened_rss = rss_mib(pid)
        unopened_alive = count_alive(unopened)
        for s in unopened:
            s.close()
    meter.report("idle")
    print(f"idle_connections_held {alive}")
    print(f"idle_refused {refused}")
    print(f"idle_rss_with_connections {with_them:.1f}")
    print(f"idle_kib_per_connection {(with_them - before) * 1024 / max(alive, 1):.1f}")
    print(f"idle_rss_10s_after_close {after:.1f}")
    print(f"idle_unopened_held {unopened_alive}")
    print(f"idle_unopened_rss {unopened_rss:.1f}")


def slowloris(pid, rw, ro, seconds=60.0, count=200):
    before = rss_mib(pid)
    socks = []
    for _ in range(count):
        s = connect(ro)
        handshake(s)
        s.setblocking(False)
        socks.append(s)
    # A 16 MiB frame, a byte a second.
    head = frame(POOL_LOOKUP_BY_NAME, 10, length=MAX_LENGTH)
    held = list(socks)
    pos = 0
    with Meter(pid, rw) as meter:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            byte = head[pos:pos + 1] if pos < len(head) else b"\0"
            pos += 1
            still = []
            for s in held:
                try:
                    s.send(byte)
                    still.append(s)
                except BlockingIOError:
                    still.append(s)
                except OSError:
                    pass
            held = still
            time.sleep(1.0)
        with_them = rss_mib(pid)
    for s in socks:
        s.close()
    meter.report("slowloris")
    print(f"slowloris_before {before:.1f}")
    print(f"slowloris_held_after_{int(seconds)}s {len(held)}")
    print(f"slowloris_rss {with_them:.1f}")


def main():
    mode, pid, rw, ro = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    extra = [float(a) for a in sys.argv[5:]]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    {"flood": flood, "flood-late": flood_late, "unread": unread, "fuzz": fuzz, "idle": idle, "slowloris": slowloris}[mode](pid, rw, ro, *extra)


if __name__ == "__main__":
    main()
