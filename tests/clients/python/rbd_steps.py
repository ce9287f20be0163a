#!/usr/bin/python3
"""Drives an rbd pool on a libvirt-protocol server through python3-libvirt (what OpenStack, oVirt and
Ansible's community.libvirt use): a ceph secret, the pool on a Ceph cluster, volume create, info,
list, resize, clone, wipe, delete, errors. Prints one line per step so runs against libvirtd and
virtpoold can be compared.

Usage: rbd_steps.py URI CEPH_POOL MON_PORT KEY_BASE64 common
       rbd_steps.py URI CEPH_POOL MON_PORT KEY_BASE64 transfer WORK_DIR
  common:   the steps libvirt 9.0 supports (compared between the servers)
  transfer: VirtPool's additions: upload and download (plain and sparse) of a file with holes;
            prints the sha256 of what went up and of what came down
"""
import base64
import hashlib
import os
import sys

import libvirt

SECRET_UUID = "3c5a0f6e-2b1d-4e8f-9a7c-6d5e4f3a2b1c"
POOL_UUID = "3c5a0f6e-2b1d-4e8f-9a7c-6d5e4f3a2b1d"
USAGE = "vp python rbd"


def err(e):
    return f"error code={e.get_error_code()} domain={e.get_error_domain()} {e.get_error_message()}"


def step(name, fn):
    try:
        print(name, fn())
    except libvirt.libvirtError as e:
        print(name, err(e))


def main():
    uri, ceph_pool, port, key, mode = sys.argv[1:6]
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(uri)
    secret = conn.secretDefineXML(
        f"<secret ephemeral='no' private='yes'><uuid>{SECRET_UUID}</uuid>"
        f"<usage type='ceph'><name>{USAGE}</name></usage></secret>", 0)
    secret.setValue(base64.b64decode(key), 0)
    print("secret", secret.UUIDString(), secret.usageType() == libvirt.VIR_SECRET_USAGE_TYPE_CEPH, secret.usageID())
    xml = (f"<pool type='rbd'><name>pyrbd</name><uuid>{POOL_UUID}</uuid><source>"
           f"<host name='127.0.0.1' port='{port}'/><name>{ceph_pool}</name>"
           f"<auth type='ceph' username='libvirt'><secret usage='{USAGE}'/></auth></source></pool>")
    pool = conn.storagePoolDefineXML(xml, 0)
    try:
        pool.create(0)
        if mode == "common":
            common(conn, pool, ceph_pool)
        else:
            transfer(conn, pool, sys.argv[6])
    finally:
        if pool.isActive():
            pool.destroy()
        pool.undefine()
        secret.undefine()


def common(conn, pool, ceph_pool):
    info = pool.info()
    print("pool info", info[0] == libvirt.VIR_STORAGE_POOL_RUNNING, info[1:])
    print("pool xml has source", f"<name>{ceph_pool}</name>" in pool.XMLDesc(0))
    vol = pool.createXML("<volume><name>disk1</name><capacity unit='M'>32</capacity></volume>", 0)
    print("vol", vol.name(), vol.key() == f"{ceph_pool}/disk1", vol.path() == f"{ceph_pool}/disk1", vol.info())
    step("vol qcow2", lambda: pool.createXML(
        "<volume><name>q</name><capacity unit='M'>8</capacity><target><format type='qcow2'/></target></volume>", 0))
    step("vol duplicate", lambda: pool.createXML("<volume><name>disk1</name><capacity unit='M'>8</capacity></volume>", 0))
    pool.createXML("<volume><name>disk2</name><capacity unit='K'>1537</capacity></volume>", 0)
    print("list", sorted(pool.listVolumes()), pool.numOfVolumes())
    print("all", sorted((v.name(), v.info()[0]) for v in pool.listAllVolumes(0)))
    print("lookup by key", conn.storageVolLookupByKey(f"{ceph_pool}/disk2").name())
    print("lookup by path", conn.storageVolLookupByPath(f"{ceph_pool}/disk2").name())
    step("lookup missing", lambda: pool.storageVolLookupByName("nosuch"))
    vol.resize(64 << 20, 0)
    print("after resize", vol.info())
    step("shrink without flag", lambda: vol.resize(16 << 20, 0))
    clone = pool.createXMLFrom("<volume><name>disk1clone</name><capacity>0</capacity></volume>", vol, 0)
    print("clone", clone.name(), clone.info())
    step("clone again", lambda: pool.createXMLFrom("<volume><name>disk1clone</name><capacity>0</capacity></volume>", vol, 0))
    print("wipe", pool.storageVolLookupByName("disk2").wipe(0))
    print("wipe trim", pool.storageVolLookupByName("disk2").wipePattern(libvirt.VIR_STORAGE_VOL_WIPE_ALG_TRIM, 0))
    step("wipe nnsa", lambda: pool.storageVolLookupByName("disk2").wipePattern(libvirt.VIR_STORAGE_VOL_WIPE_ALG_NNSA, 0))
    clone.delete(0)
    pool.storageVolLookupByName("disk2").delete(0)
    pool.refresh(0)
    print("list after delete", sorted(pool.listVolumes()))
    print("vol xml", pool.storageVolLookupByName("disk1").XMLDesc(0).replace(pool.storageVolLookupByName("disk1").key(), "KEY"))
    print("delete with snapshots", pool.storageVolLookupByName("disk1").delete(libvirt.VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS))
    print("list at end", sorted(pool.listVolumes()))


def upload(conn, vol, path, sparse):
    stream = conn.newStream(0)
    flags = libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM if sparse else 0
    vol.upload(stream, 0, 0, flags)
    fd = os.open(path, os.O_RDONLY)
    try:
        def source(_st, nbytes, fd):
            return os.read(fd, nbytes)

        if sparse:
            # The section at the file offset: data up to the next hole, or a hole up to the next data.
            def in_data(_st, fd):
                cur = os.lseek(fd, 0, os.SEEK_CUR)
                try:
                    data = os.lseek(fd, cur, os.SEEK_DATA)
                except OSError:
                    end = os.lseek(fd, 0, os.SEEK_END)
                    os.lseek(fd, cur, os.SEEK_SET)
                    return [0, end - cur]
                if data > cur:
                    os.lseek(fd, cur, os.SEEK_SET)
                    return [0, data - cur]
                hole = os.lseek(fd, cur, os.SEEK_HOLE)
                os.lseek(fd, cur, os.SEEK_SET)
                return [1, hole - cur]

            def skip(_st, length, fd):
                os.lseek(fd, length, os.SEEK_CUR)
                return 0

            stream.sparseSendAll(source, in_data, skip, fd)
        else:
            stream.sendAll(source, fd)
        stream.finish()
    finally:
        os.close(fd)


def download(conn, vol, sparse):
    stream = conn.newStream(0)
    flags = libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM if sparse else 0
    vol.download(stream, 0, 0, flags)
    chunks, holes = [], [0]

    def on_data(_s, data, _opaque):
        chunks.append(bytes(data))
        return 0

    def on_hole(_s, length, _opaque):
        holes[0] += length
        chunks.append(b"\0" * length)
        return 0

    if sparse:
        stream.sparseRecvAll(on_data, on_hole, None)
    else:
        stream.recvAll(on_data, None)
    stream.finish()
    return b"".join(chunks), holes[0]


def transfer(conn, pool, work):
    # 24 MiB: 1 MiB of data at 4 MiB, 2 MiB at 17 MiB, holes elsewhere.
    payload = bytes((i * 13 + 7) % 251 for i in range(3 << 20))
    path = os.path.join(work, "holey.bin")
    with open(path, "wb") as f:
        f.truncate(24 << 20)
        f.seek(4 << 20)
        f.write(payload[: 1 << 20])
        f.seek(17 << 20)
        f.write(payload[1 << 20:])
    with open(path, "rb") as f:
        source = f.read()
    print("source sha256", hashlib.sha256(source).hexdigest())
    for sparse in (False, True):
        name = "sparse" if sparse else "plain"
        vol = pool.createXML(f"<volume><name>{name}</name><capacity unit='M'>24</capacity></volume>", 0)
        try:
            upload(conn, vol, path, sparse)
            print(f"{name} upload", vol.info())
            for down_sparse in (False, True):
                data, holes = download(conn, vol, down_sparse)
                print(f"{name} upload, {'sparse' if down_sparse else 'plain'} download", len(data),
                      hashlib.sha256(data).hexdigest() == hashlib.sha256(source).hexdigest(), "holes", holes)
        except libvirt.libvirtError as e:
            print(f"{name} upload", err(e))
        finally:
            vol.delete(0)


if __name__ == "__main__":
    main()
