#!/usr/bin/python3
"""Drives a libvirt-protocol server through python3-libvirt (what Ansible's community.libvirt uses):
the pool and volume calls of the seed, uploads and downloads with and without holes, and errors.
Prints one line per step so runs against libvirtd and virtpoold can be compared.
Usage: pool_steps.py URI POOL_DIR WORK_DIR"""
import hashlib
import os
import re
import sys

import libvirt


def main():
    uri, pool_dir, work = sys.argv[1], sys.argv[2], sys.argv[3]
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(uri)
    print("lib version", conn.getLibVersion() >= 9000000)
    # The transport, host and socket differ between the compared servers; the driver part must not.
    print("uri", re.sub(r"^(\w+)(\+\w+)?://[^/]*/", r"\1:///", conn.getURI().split("?")[0]))
    xml = (f"<pool type='dir'><name>pypool</name><uuid>4f2d8a0e-1b7c-4e55-9a31-2c6e0d9b8f21</uuid>"
           f"<target><path>{pool_dir}</path></target></pool>")
    pool = conn.storagePoolDefineXML(xml, 0)
    print("define", pool.name(), pool.UUIDString(), pool.isActive(), pool.isPersistent())
    pool.build(0)
    pool.create(0)
    pool.setAutostart(1)
    info = pool.info()
    print("pool info", info[0], info[1] > 0, info[3] <= info[1], "autostart", pool.autostart())
    print("pools", sorted(p.name() for p in conn.listAllStoragePools(0)))

    vol = pool.createXML("<volume><name>data.raw</name><capacity unit='M'>16</capacity>"
                         "<allocation>0</allocation></volume>", 0)
    print("vol", vol.name(), vol.key().replace(pool_dir, "DIR"), vol.path().replace(pool_dir, "DIR"), vol.info())

    # Upload 3 MiB at offset 1 MiB, then a sparse upload of a file with a hole.
    payload = bytes((i * 7) % 251 for i in range(3 << 20))
    stream = conn.newStream(0)
    vol.upload(stream, 1 << 20, len(payload), 0)
    stream.send(payload)
    stream.finish()
    holey = os.path.join(work, "holey.bin")
    with open(holey, "wb") as f:
        # As long as the volume: libvirt truncates the volume to where a sparse upload ends.
        f.truncate(16 << 20)
        f.seek(6 << 20)
        f.write(payload[: 1 << 20])
    print("after upload", vol.info())
    # Into a fresh volume: where a sparse stream has holes libvirt seeks over the old data, VirtPool punches it.
    sparse_vol = pool.createXML("<volume><name>sparse.raw</name><capacity unit='M'>16</capacity>"
                                "<allocation>0</allocation></volume>", 0)
    upload_sparse(conn, sparse_vol, holey)
    print("after sparse upload", sparse_vol.info())

    for sparse in (False, True):
        data, holes = download(conn, sparse_vol, sparse)
        print("download sparse" if sparse else "download", len(data), hashlib.sha256(data).hexdigest(), "holes>0", holes > 0)

    clone = pool.createXMLFrom("<volume><name>copy.raw</name><capacity>0</capacity></volume>", vol, 0)
    print("clone", clone.name(), clone.info()[1])
    vol.resize(32 << 20, 0)
    print("resize", vol.info()[1])
    vol.wipe(0)
    print("wipe", vol.info()[1])
    data, _ = download(conn, vol, False)
    print("download plain", len(data), hashlib.sha256(data).hexdigest())
    print("vols", sorted(v.name() for v in pool.listAllVolumes(0)))
    try:
        pool.storageVolLookupByName("nosuch")
    except libvirt.libvirtError as e:
        print("lookup error", e.get_error_code(), e.get_error_domain(), e.get_error_message())
    try:
        conn.storagePoolLookupByName("nosuch")
    except libvirt.libvirtError as e:
        print("pool lookup error", e.get_error_code(), e.get_error_domain(), e.get_error_message())

    for v in pool.listAllVolumes(0):
        v.delete(0)
    pool.setAutostart(0)
    pool.destroy()
    pool.delete(0)
    pool.undefine()
    print("gone", "pypool" not in [p.name() for p in conn.listAllStoragePools(0)])
    conn.close()


def upload_sparse(conn, vol, path):
    stream = conn.newStream(0)
    vol.upload(stream, 0, 0, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
    fd = os.open(path, os.O_RDONLY)

    def source(_st, nbytes, fd):
        return os.read(fd, nbytes)

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
    stream.finish()
    os.close(fd)


def download(conn, vol, sparse):
    stream = conn.newStream(0)
    vol.download(stream, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM if sparse else 0)
    chunks = []
    holes = [0]

    def sink(_st, data, _opaque):
        chunks.append(bytes(data))
        return len(data)

    def hole(_st, length, _opaque):
        chunks.append(bytes(length))
        holes[0] += length
        return 0

    if sparse:
        stream.sparseRecvAll(sink, hole, None)
    else:
        stream.recvAll(sink, None)
    stream.finish()
    return b"".join(chunks), holes[0]


if __name__ == "__main__":
    main()
