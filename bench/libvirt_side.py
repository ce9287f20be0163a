#!/usr/bin/python3
"""The libvirtd half of bench/run.sh: the same workloads through python3-libvirt.
Usage: libvirt_side.py URI create DIR N | refresh DIR REPEAT | qcow2-create DIR N
       libvirt_side.py URI clone|wipe|upload|download DIR MIB
Prints "<mode> <seconds> <count>" like VirtPool.Bench."""
import os
import subprocess
import sys
import time

import libvirt


def fresh_pool(conn, name, path):
    """A dir pool NAME at PATH, built and started; one of that name left by an earlier run goes first."""
    try:
        old = conn.storagePoolLookupByName(name)
        if old.isActive():
            old.destroy()
        old.undefine()
    except libvirt.libvirtError:
        pass
    pool = conn.storagePoolDefineXML(
        f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>", 0)
    pool.build(0)
    pool.create(0)
    return pool


def main():
    uri, mode, path = sys.argv[1], sys.argv[2], sys.argv[3]
    # The lookup of a leftover pool fails by design; keep libvirt's default handler from printing it.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(uri)
    pool = fresh_pool(conn, "bench-" + mode, path)
    try:
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
        elif mode == "qcow2-create":
            n = int(sys.argv[4])
            start = time.perf_counter()
            for i in range(n):
                pool.createXML(f"<volume><name>v{i}.qcow2</name><capacity>1073741824</capacity>"
                               f"<target><format type='qcow2'/></target></volume>", 0)
            print(f"qcow2-create {time.perf_counter() - start:.6f} {n}")
        else:
            data_ops(conn, pool, path, mode, int(sys.argv[4]))
    finally:
        pool.destroy()
        pool.undefine()


def write_random(path, size):
    chunk = os.urandom(8 << 20)
    with open(path, "r+b" if os.path.exists(path) else "wb") as f:
        done = 0
        while done < size:
            n = min(len(chunk), size - done)
            f.write(chunk[:n])
            done += n
        f.flush()
        os.fsync(f.fileno())


def data_ops(conn, pool, path, mode, mib):
    """The same steps as VirtPool.Bench's data modes: an n MiB volume of random data, then one operation."""
    size = mib << 20
    vol = pool.createXML(f"<volume><name>src.raw</name><capacity>{size}</capacity></volume>", 0)
    local = os.path.join(os.path.dirname(path), "local.bin")
    write_random(local if mode == "upload" else vol.path(), size)
    pool.refresh(0)
    vol = pool.storageVolLookupByName("src.raw")
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    if mode == "clone":
        pool.createXMLFrom("<volume><name>copy.raw</name><capacity>0</capacity></volume>", vol, 0)
    elif mode == "wipe":
        vol.wipe(0)
    elif mode == "upload":
        stream = conn.newStream(0)
        vol.upload(stream, 0, size, 0)
        with open(local, "rb") as f:
            stream.sendAll(lambda _s, n, fh: fh.read(n), f)
        stream.finish()
    elif mode == "download":
        stream = conn.newStream(0)
        vol.download(stream, 0, size, 0)
        with open(local, "wb") as f:
            stream.recvAll(lambda _s, buf, fh: fh.write(buf), f)
        stream.finish()
    print(f"{mode} {time.perf_counter() - start:.6f} {mib}")
    for v in pool.listAllVolumes(0):
        v.delete(0)


if __name__ == "__main__":
    main()
