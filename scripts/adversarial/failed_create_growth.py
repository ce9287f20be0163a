#!/usr/bin/python3
"""Memory of a daemon after N transient pool-creates that fail (a target that does not exist, no
build): each leaves its backend in the daemon's per-pool table (PoolBackends). Prints the daemon's
RSS before and after. Usage: failed_create_growth.py URI DAEMON_PID N [control]
(control: the same creates as fs pools, which fail before a backend is loaded: the baseline)"""
import sys, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
uri, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
control = len(sys.argv) > 4
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
c = libvirt.open(uri)
pad = "x" * 200  # a longer target path, as real ones are
def burst(start, count):
    for i in range(start, start + count):
        try:
            source = "<source><device path='/dev/nonexistent'/></source>" if control else ""
            c.storagePoolCreateXML(f"<pool type='{'fs' if control else 'dir'}'><name>{'ctl' if control else 'gone'}{i}</name>{source}<target><path>/nonexistent/{pad}/{i}</path></target></pool>", 0)
        except libvirt.libvirtError:
            pass
burst(0, 2000)  # warm-up: JIT, pools, caches
before = rss()
burst(2000, n)
after = rss()
print(f"RSS before {before} KiB, after {n} failed creates {after} KiB: +{after - before} KiB ({(after - before) * 1024 / n:.0f} B per call)")
