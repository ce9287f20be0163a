#!/usr/bin/python3
"""Uploads into a volume through python3-libvirt in two halves, waiting between them for a line on
stdin, so a test can break the server while the transfer is running.

Usage: rbd_held_upload.py URI POOL VOLUME MIB
  sends MIB/2 MiB, prints "first half sent", waits for a line on stdin, sends the rest and finishes.
  prints "finished" or "failed after S s: code=C domain=D MESSAGE" (S: seconds since the second half began)
"""
import sys
import time

import libvirt


def main():
    uri, pool_name, volume, mib = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(uri)
    vol = conn.storagePoolLookupByName(pool_name).storageVolLookupByName(volume)
    chunk = bytes((i * 31 + 5) % 253 for i in range(1 << 20))
    stream = conn.newStream(0)
    vol.upload(stream, 0, mib << 20, 0)
    for _ in range(mib // 2):
        stream.send(chunk)
    print("first half sent", flush=True)
    sys.stdin.readline()
    began = time.monotonic()
    try:
        for _ in range(mib - mib // 2):
            stream.send(chunk)
        stream.finish()
        print("finished", flush=True)
    except libvirt.libvirtError as e:
        print(f"failed after {time.monotonic() - began:.1f} s: code={e.get_error_code()} domain={e.get_error_domain()} {e.get_error_message()}", flush=True)
        try:
            stream.abort()
        except libvirt.libvirtError:
            pass


if __name__ == "__main__":
    main()
