#!/usr/bin/python3
"""The libvirtd half of bench/run.sh: the same workloads through python3-libvirt.
Usage: libvirt_side.py URI create DIR N | refresh DIR REPEAT
Prints "<mode> <seconds> <count>" like VirtPool.Bench."""
import sys
import time

import libvirt


def main():
    uri, mode, path = sys.argv[1], sys.argv[2], sys.argv[3]
    conn = libvirt.open(uri)
    name = "bench-" + mode
    try:
        old = conn.storagePoolLookupByName(name)
        if old.isActive():
            old.destroy()
        old.undefine()
    except libvirt.libvirtError:
        pass
    xml = f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>"
    pool = conn.storagePoolDefineXML(xml, 0)
    try:
        pool.build(0)
        pool.create(0)
        if mode == "create":
            n = int(sys.argv[4])
            start = time.perf_counter()
            for i in range(n):
                pool.createXML(f"<volume><name>v{i}.img</name><capacity>1048576</capacity>"
                               f"<allocation>0</allocation></volume>", 0)
            print(f"create {time.perf_counter() - start:.6f} {n}")
        elif mode == "refresh":
            repeat = int(sys.argv[4])
            pool.refresh(0)
            start = time.perf_counter()
            for _ in range(repeat):
                pool.refresh(0)
            print(f"refresh {(time.perf_counter() - start) / repeat:.6f} {pool.numOfVolumes()}")
    finally:
        pool.destroy()
        pool.undefine()


if __name__ == "__main__":
    main()
