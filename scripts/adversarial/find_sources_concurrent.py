#!/usr/bin/python3
"""N threads, each on its own connection, calling findStoragePoolSources('logical') M times;
prints the distinct outcomes. Usage: find_sources_concurrent.py URI N M"""
import sys, threading, collections, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
uri, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = collections.Counter()
lock = threading.Lock()
def work():
    c = libvirt.open(uri)
    for _ in range(m):
        try:
            r = ("ok", c.findStoragePoolSources("logical", None, 0))
        except libvirt.libvirtError as e:
            r = ("err", e.get_error_code(), e.get_error_message()[:200])
        with lock:
            seen[r] += 1
    c.close()
ts = [threading.Thread(target=work) for _ in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
for k, v in seen.items():
    print(v, k)
