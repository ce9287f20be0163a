#!/usr/bin/python3
"""One workload through python3-libvirt against any daemon that speaks libvirt's RPC (libvirtd or
virtpoold), so the same client measures both servers. Used by bench/daemon.sh.
Usage: client_ops.py URI DIR delete N      -> N raw volumes made (untimed), then deleted one by one
       client_ops.py URI DIR upload MIB    -> one MIB MiB upload into a raw volume (file on DIR/..)
Prints "<mode> <seconds> <count>"."""
import os
import sys
import time

import libvirt

from libvirt_side import fresh_pool


def main():
    uri, path, mode, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(uri)
    pool = fresh_pool(conn, "bench-" + mode, path)
    try:
        if mode == "delete":
            vols = [pool.createXML(f"<volume><name>d{i}.img</name><capacity>1048576</capacity>"
                                   f"<allocation>0</allocation></volume>", 0) for i in range(count)]
            start = time.perf_counter()
            for v in vols:
                v.delete(0)
            print(f"delete {time.perf_counter() - start:.6f} {count}")
        elif mode == "upload":
            size = count << 20
            local = os.path.join(os.path.dirname(path), "upload.bin")
            if not os.path.exists(local) or os.path.getsize(local) != size:
                with open(local, "wb") as f:
                    f.write(os.urandom(size))
            vol = pool.createXML(f"<volume><name>up.raw</name><capacity>{size}</capacity>"
                                 f"<allocation>0</allocation></volume>", 0)
            with open(local, "rb") as f:
                start = time.perf_counter()
                stream = conn.newStream(0)
                vol.upload(stream, 0, size, 0)
                stream.sendAll(lambda _s, n, fh: fh.read(n), f)
                stream.finish()
                elapsed = time.perf_counter() - start
            vol.delete(0)
            print(f"upload {elapsed:.6f} {count}")
        else:
            raise SystemExit(f"unknown mode {mode}")
    finally:
        pool.destroy()
        pool.undefine()
        try:
            os.rmdir(path)
        except OSError:
            pass


if __name__ == "__main__":
    main()
