#!/usr/bin/python3
"""Flags each storage call's backend checks (libvirt's virCheckFlags in the backend callback), through
python3-libvirt: the error code and text must be the server's backend's own.
Usage: flag_steps.py URI POOL_DIR"""
import sys

import libvirt


def attempt(what, call):
    try:
        call()
        print(what, "ok")
    except libvirt.libvirtError as e:
        print(what, e.get_error_code(), e.get_error_domain(), e.get_error_message())


def main():
    uri, pool_dir = sys.argv[1], sys.argv[2]
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(uri)
    pool = conn.storagePoolDefineXML(
        "<pool type='dir'><name>pyflags</name><uuid>5a3e9b1f-2c8d-4f66-8b42-3d7f1e0c9a32</uuid>"
        f"<target><path>{pool_dir}</path></target></pool>", 0)
    for flags in (1, 2, 16, 12, 4, 8, 0):
        attempt(f"build {flags}", lambda f=flags: pool.build(f))
    for flags in (1, 2):
        attempt(f"delete {flags}", lambda f=flags: pool.delete(f))
    attempt("create 8", lambda: pool.create(8))
    pool.create(0)
    raw = pool.createXML("<volume><name>r.raw</name><capacity>4096</capacity></volume>", 0)
    qcow2 = pool.createXML("<volume><name>q.qcow2</name><capacity>65536</capacity>"
                           "<target><format type='qcow2'/></target></volume>", 0)
    for flags in (1, 2, 4, 3):
        attempt(f"vol-delete raw {flags}", lambda f=flags: raw.delete(f))
    for flags in (1, 4):
        attempt(f"vol-delete qcow2 {flags}", lambda f=flags: qcow2.delete(f))
    print("volumes", sorted(pool.listVolumes()))
    attempt("refresh 1", lambda: pool.refresh(1))
    raw.delete(0)
    qcow2.delete(0)
    pool.destroy()
    attempt("delete 0", lambda: pool.delete(0))
    pool.undefine()


main()
