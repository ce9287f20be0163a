#!/usr/bin/python3
"""Races clients against one libvirt-protocol server through python3-libvirt, each on its own
connection, and sorts every error into the ones libvirt's storage driver gives in such a race and the
rest (which must not happen).

Volume mix (one qcow2 name in one dir pool): two clients create and delete it, two look it up and ask
info + XMLDesc, two resize it, one uploads into it and one downloads from it.
Pool mix (--pools): one client defines/starts/destroys/undefines a persistent pool and creates/destroys
a transient one; after each start's reply another connection must see the pool active, and so must a
client that reacts to the STARTED lifecycle event; two more clients list pools and ask isActive + info.

With --iterations every client runs N rounds, starting each step together with the others; with
--seconds they run freely until the time is up (the mix of the issue).
Usage: race_mix.py URI WORK_DIR (--iterations N | --seconds S) [--pools] [--no-volumes]
Prints a summary; the last line is JSON {"calls", "expected", "unexpected", "violations", "capacity0",
"crashed"}. Infos reporting capacity 0 are counted, not failed: libvirtd shows a qcow2 volume so
while qemu-img makes it. Exit status 1 when anything unexpected happened."""
import argparse
import json
import os
import queue
import re
import sys
import threading
import time
import traceback
from collections import Counter

import libvirt

VOL = "race.qcow2"
MIB = 1 << 20

# (error code, message pattern) of what libvirt's storage driver answers in these races.
EXPECTED = [
    (libvirt.VIR_ERR_NO_STORAGE_VOL, r"Storage volume not found: no storage vol with matching (name|path|key) .*"),
    (libvirt.VIR_ERR_OPERATION_INVALID, r"Requested operation is not valid: volume '.*' is still being allocated\."),
    (libvirt.VIR_ERR_OPERATION_INVALID, r"Requested operation is not valid: volume '.*' is still in use\."),
    (libvirt.VIR_ERR_INVALID_ARG, r"invalid argument: Can't shrink capacity below current capacity unless shrink flag explicitly specified"),
    (libvirt.VIR_ERR_INVALID_ARG, r"invalid argument: can't shrink capacity below existing allocation"),
    (libvirt.VIR_ERR_STORAGE_VOL_EXIST, r"storage volume '.*' exists already"),
    (libvirt.VIR_ERR_NO_STORAGE_POOL, r"Storage pool not found: no storage pool with matching (name|uuid) .*"),
    (libvirt.VIR_ERR_OPERATION_INVALID, r"Requested operation is not valid: storage pool '.*' is not active"),
    (libvirt.VIR_ERR_OPERATION_INVALID, r"Requested operation is not valid: storage pool '.*' is already active"),
    (libvirt.VIR_ERR_OPERATION_INVALID, r"Requested operation is not valid: pool '.*' has asynchronous jobs running\."),
]


def classify(err):
    code, message = err.get_error_code(), str(err)
    for want, pattern in EXPECTED:
        if code == want and re.fullmatch(pattern, message):
            # One bucket per kind: the volume or pool name in the message is not what counts.
            return True, re.sub(r"'[^']*'", "'…'", message)
    return False, f"[{code}] {message}"


class Tally:
    def __init__(self, deadline, iterations):
        self.lock = threading.Lock()
        self.calls = 0
        self.expected = Counter()
        self.unexpected = Counter()
        self.violations = []
        self.notes = Counter()
        self.deadline = deadline
        self.iterations = iterations
        self.failed_hard = []

    def more(self, i):
        if self.deadline is not None:
            return time.monotonic() < self.deadline
        return i < self.iterations

    def call(self, fn, *args):
        """Runs one API call; returns its result, or None after recording its error."""
        with self.lock:
            self.calls += 1
        try:
            return fn(*args)
        except libvirt.libvirtError as err:
            ok, key = classify(err)
            key = f"{getattr(fn, '__name__', 'call')}: {key}"
            with self.lock:
                (self.expected if ok else self.unexpected)[key] += 1
            return None

    def violation(self, text):
        with self.lock:
            self.violations.append(text)

    def note(self, text):
        with self.lock:
            self.notes[text] += 1


def vol_xml(capacity_mib=64):
    return (f"<volume><name>{VOL}</name><capacity unit='M'>{capacity_mib}</capacity>"
            f"<target><format type='qcow2'/></target></volume>")


def rounds(tally, barrier, step):
    """Runs step(i, phase) for phases 0 and 1 of each round. With a barrier (a bounded run) every
    client starts each phase together: the creators create while the others work on whatever is
    there, then delete while the others work on the volume just made."""
    i = 0
    while tally.more(i):
        for phase in (0, 1):
            if barrier is not None:
                barrier.wait(timeout=300)
            step(i, phase)
        i += 1


def creator(uri, pool_name, tally, barrier):
    conn = libvirt.open(uri)
    pool = conn.storagePoolLookupByName(pool_name)

    def step(_i, phase):
        if phase == 0:
            tally.call(pool.createXML, vol_xml(), 0)
            return
        vol = tally.call(pool.storageVolLookupByName, VOL)
        if vol is not None:
            tally.call(vol.delete, 0)

    rounds(tally, barrier, step)
    conn.close()


def looker(uri, pool_name, tally, barrier):
    conn = libvirt.open(uri)
    pool = conn.storagePoolLookupByName(pool_name)

    def step(_i, _phase):
        vol = tally.call(pool.storageVolLookupByName, VOL)
        if vol is None:
            return
        info = tally.call(vol.info)
        if info is not None and info[1] == 0:
            # A qcow2 volume made with 64 MiB never has capacity 0 (libvirt shows it while allocating).
            tally.note(f"info of {VOL} reported capacity 0: {info}")
        tally.call(vol.XMLDesc, 0)

    rounds(tally, barrier, step)
    conn.close()


def resizer(uri, pool_name, tally, barrier, seed):
    conn = libvirt.open(uri)
    pool = conn.storagePoolLookupByName(pool_name)

    def step(i, phase):
        vol = tally.call(pool.storageVolLookupByName, VOL)
        if vol is not None:
            # Growing, then a smaller size without --shrink: libvirt's refusal is expected.
            size = (64 + 8 * ((i + phase + seed) % 4)) * MIB
            tally.call(vol.resize, size, 0)

    rounds(tally, barrier, step)
    conn.close()


def uploader(uri, pool_name, tally, barrier, image):
    conn = libvirt.open(uri)
    pool = conn.storagePoolLookupByName(pool_name)

    def step(_i, _phase):
        vol = tally.call(pool.storageVolLookupByName, VOL)
        if vol is None:
            return
        stream = conn.newStream(0)
        if tally.call(vol.upload, stream, 0, len(image), 0) == 0:
            if tally.call(stream.send, image) is not None:
                tally.call(stream.finish)
            else:
                tally.call(stream.abort)

    rounds(tally, barrier, step)
    conn.close()


def downloader(uri, pool_name, tally, barrier):
    conn = libvirt.open(uri)
    pool = conn.storagePoolLookupByName(pool_name)

    def step(_i, _phase):
        vol = tally.call(pool.storageVolLookupByName, VOL)
        if vol is None:
            return
        stream = conn.newStream(0)
        if tally.call(vol.download, stream, 0, 64 * 1024, 0) == 0:
            received = []
            if tally.call(stream.recvAll, lambda _s, data, acc: acc.append(len(data)), received) is not None:
                tally.call(stream.finish)
            else:
                tally.call(stream.abort)

    rounds(tally, barrier, step)
    conn.close()


# ----- pools ---------------------------------------------------------------------------------------

def pool_xml(name, path):
    return f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>"


def pool_cycler(uri, work, tally, checks, listening):
    """Lifecycle of a persistent and a transient pool; after each start, the checkers confirm it."""
    conn = libvirt.open(uri)
    # No start before the event checker is registered: its first STARTED event would be lost.
    listening.wait()
    i = 0
    while tally.more(i):
        for name, transient in (("racep", False), ("racet", True)):
            path = os.path.join(work, name)
            os.makedirs(path, exist_ok=True)
            if transient:
                pool = tally.call(conn.storagePoolCreateXML, pool_xml(name, path), 0)
            else:
                pool = tally.call(conn.storagePoolDefineXML, pool_xml(name, path), 0)
                if pool is not None and tally.call(pool.create, 0) is None:
                    pool = None
            if pool is not None:
                # The start's reply is here: every other client must now see it active.
                done = threading.Event()
                checks.put((name, done))
                done.wait()
                tally.call(pool.destroy)
                if not transient:
                    tally.call(pool.undefine)
        i += 1
    checks.put(None)
    conn.close()


def after_reply_checker(uri, tally, checks, event_checks):
    conn = libvirt.open(uri)
    while True:
        item = checks.get()
        if item is None:
            event_checks.put(None)
            break
        name, done = item
        pool = tally.call(conn.storagePoolLookupByName, name)
        if pool is None:
            tally.violation(f"{name}: not found by another connection after its start returned")
        else:
            active = tally.call(pool.isActive)
            if active != 1:
                tally.violation(f"{name}: isActive {active} on another connection after its start returned")
            info = tally.call(pool.info)
            if info is not None and info[0] != libvirt.VIR_STORAGE_POOL_RUNNING:
                tally.violation(f"{name}: info state {info[0]} on another connection after its start returned")
        # Then the client that saw the STARTED event must see it active too, before the destroy.
        event_checks.put((name, done))
    conn.close()


def event_checker(uri, tally, event_checks, listening):
    """Reads the pool's state when its STARTED event arrives, on a connection of its own."""
    started = queue.Queue()
    conn = libvirt.open(uri)

    def on_lifecycle(_conn, pool, event, _detail, _opaque):
        if event == libvirt.VIR_STORAGE_POOL_EVENT_STARTED:
            started.put(pool.name())

    try:
        callback = conn.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE, on_lifecycle, None)
    finally:
        listening.set()  # also on failure: the cycler must not wait for ever
    reader = libvirt.open(uri)
    seen = Counter()
    while True:
        item = event_checks.get()
        if item is None:
            break
        name, done = item
        # The event may come before or after the reply; wait for this start's event.
        while seen[name] == 0:
            try:
                got = started.get(timeout=30)
            except queue.Empty:
                tally.violation(f"{name}: no STARTED event within 30 s")
                break
            seen[got] += 1
        if seen[name] > 0:
            seen[name] -= 1
            pool = tally.call(reader.storagePoolLookupByName, name)
            active = tally.call(pool.isActive) if pool is not None else None
            if active != 1:
                tally.violation(f"{name}: isActive {active} after its STARTED event")
        done.set()
    conn.storagePoolEventDeregisterAny(callback)
    conn.close()
    reader.close()


def pool_reader(uri, tally, stop):
    conn = libvirt.open(uri)
    while not stop.is_set():
        for pool in tally.call(conn.listAllStoragePools, 0) or []:
            tally.call(pool.isActive)
            tally.call(pool.info)
        for name in ("racep", "racet"):
            pool = tally.call(conn.storagePoolLookupByName, name)
            if pool is not None:
                tally.call(pool.isActive)
                tally.call(pool.info)
    conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("uri")
    parser.add_argument("work")
    bound = parser.add_mutually_exclusive_group(required=True)
    bound.add_argument("--iterations", type=int)
    bound.add_argument("--seconds", type=float)
    parser.add_argument("--pools", action="store_true")
    parser.add_argument("--no-volumes", action="store_true")
    args = parser.parse_args()

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    libvirt.virEventRegisterDefaultImpl()
    loop = threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)], daemon=True)
    loop.start()

    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    deadline = time.monotonic() + args.seconds if args.seconds is not None else None
    tally = Tally(deadline, args.iterations)

    conn = libvirt.open(args.uri)
    threads = []
    barriers = []
    pool = None
    if not args.no_volumes:
        pool_dir = os.path.join(work, "vols")
        pool = conn.storagePoolCreateXML(pool_xml("racevols", pool_dir), libvirt.VIR_STORAGE_POOL_CREATE_WITH_BUILD)
        # What the uploader writes: a whole qcow2 image of 64 MiB (header and tables), so the volume stays qcow2.
        template = pool.createXML(vol_xml().replace(VOL, "template.qcow2"), 0)
        stream = conn.newStream(0)
        template.download(stream, 0, 0, 0)
        chunks = []
        stream.recvAll(lambda _s, data, acc: acc.append(data), chunks)
        stream.finish()
        image = b"".join(chunks).rstrip(b"\0")
        image += b"\0" * (-len(image) % 512)
        template.delete(0)
        barrier = threading.Barrier(8) if args.iterations is not None else None
        barriers.append(barrier)
        threads += [threading.Thread(target=creator, args=(args.uri, "racevols", tally, barrier)) for _ in range(2)]
        threads += [threading.Thread(target=looker, args=(args.uri, "racevols", tally, barrier)) for _ in range(2)]
        threads += [threading.Thread(target=resizer, args=(args.uri, "racevols", tally, barrier, seed)) for seed in range(2)]
        threads += [threading.Thread(target=uploader, args=(args.uri, "racevols", tally, barrier, image)),
                    threading.Thread(target=downloader, args=(args.uri, "racevols", tally, barrier))]

    stop_readers = threading.Event()
    readers = []
    if args.pools:
        checks, event_checks, listening = queue.Queue(), queue.Queue(), threading.Event()
        threads += [threading.Thread(target=pool_cycler, args=(args.uri, work, tally, checks, listening)),
                    threading.Thread(target=after_reply_checker, args=(args.uri, tally, checks, event_checks)),
                    threading.Thread(target=event_checker, args=(args.uri, tally, event_checks, listening))]
        readers = [threading.Thread(target=pool_reader, args=(args.uri, tally, stop_readers)) for _ in range(2)]

    def guarded(target):
        def run(*a):
            try:
                target(*a)
            except Exception:  # a crash of a worker is a failure of the run, never a silent stop
                tally.failed_hard.append(traceback.format_exc())
                for barrier in barriers:
                    if barrier is not None:
                        barrier.abort()
        return run

    for t in threads + readers:
        t._target = guarded(t._target)
        t.start()
    for t in threads:
        t.join()
    stop_readers.set()
    for t in readers:
        t.join()

    if pool is not None:
        for vol in pool.listAllVolumes(0):
            vol.delete(0)
        pool.destroy()
    conn.close()

    print(f"calls {tally.calls}")
    for key, n in sorted(tally.expected.items()):
        print(f"expected   {n:7d}  {key}")
    for key, n in sorted(tally.unexpected.items()):
        print(f"UNEXPECTED {n:7d}  {key}")
    for text, n in sorted(tally.notes.items()):
        print(f"note       {n:7d}  {text}")
    for text in tally.violations[:20]:
        print(f"VIOLATION  {text}")
    for text in tally.failed_hard:
        print(f"CRASHED    {text}")
    print(json.dumps({"calls": tally.calls, "expected": sum(tally.expected.values()),
                      "unexpected": sum(tally.unexpected.values()), "violations": len(tally.violations),
                      "capacity0": sum(tally.notes.values()),
                      "crashed": len(tally.failed_hard)}))
    return 1 if tally.unexpected or tally.violations or tally.failed_hard else 0


if __name__ == "__main__":
    sys.exit(main())
