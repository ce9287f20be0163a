#!/usr/bin/python3
"""Every pool and volume call with unknown and odd flag bits, through python3-libvirt, against a
server; prints one line per call (outcome). Run against libvirtd and virtpoold and diff the output.
Usage: flags_diff.py URI POOL_DIR"""
import sys, os, libvirt

libvirt.registerErrorHandler(lambda *a: None, None)

def attempt(what, call):
    try:
        r = call()
        if isinstance(r, str):
            r = r[:60].replace("\n", "|")
        print(what, "ok", r if not hasattr(r, "name") else "")
    except libvirt.libvirtError as e:
        print(what, e.get_error_code(), e.get_error_domain(), e.get_error_message())

uri, d = sys.argv[1], sys.argv[2]
conn = libvirt.open(uri)
for name in ("advflags", "advt", "advd"):  # left by an earlier run
    try:
        old = conn.storagePoolLookupByName(name)
        if old.isActive():
            for v in old.listAllVolumes(0):
                v.delete(0)
            old.destroy()
        if old.isPersistent():
            old.undefine()
    except libvirt.libvirtError:
        pass
BITS = (1, 2, 4, 8, 16, 32, 0x80000000)
pool = conn.storagePoolDefineXML(f"<pool type='dir'><name>advflags</name><target><path>{d}</path></target></pool>", 0)
for f in BITS:
    attempt(f"pool.build {f:#x}", lambda f=f: pool.build(f))
for f in BITS:
    attempt(f"pool.create {f:#x}", lambda f=f: (pool.create(f), pool.destroy()))
pool.create(0)
for f in BITS:
    attempt(f"pool.refresh {f:#x}", lambda f=f: pool.refresh(f))
for f in BITS:
    attempt(f"pool.XMLDesc {f:#x}", lambda f=f: pool.XMLDesc(f))
for f in BITS:
    attempt(f"pool.listAllVolumes {f:#x}", lambda f=f: len(pool.listAllVolumes(f)))
for f in BITS:
    attempt(f"pool.create(active) {f:#x}", lambda f=f: pool.create(f))
attempt("pool.undefine(active)", lambda: pool.undefine())
for f in BITS:
    attempt(f"vol.createXML {f:#x}", lambda f=f: pool.createXML(f"<volume><name>c{f}</name><capacity>65536</capacity><target><format type='qcow2'/></target></volume>", f))
src = pool.createXML("<volume><name>src</name><capacity>65536</capacity></volume>", 0)
for f in BITS:
    attempt(f"vol.createXMLFrom {f:#x}", lambda f=f: pool.createXMLFrom(f"<volume><name>f{f}</name><capacity>65536</capacity></volume>", src, f))
for f in BITS:
    attempt(f"vol.wipe {f:#x}", lambda f=f: src.wipe(f))
for alg in (0, 1, 9, 10, 11, 99, -1):
    attempt(f"vol.wipePattern alg={alg}", lambda a=alg: src.wipePattern(a, 0))
for f in BITS:
    attempt(f"vol.wipePattern(zero) {f:#x}", lambda f=f: src.wipePattern(0, f))
for f in BITS:
    attempt(f"vol.resize {f:#x}", lambda f=f: src.resize(131072 if f != 8 else 65536, f))
for f in BITS:
    attempt(f"vol.XMLDesc {f:#x}", lambda f=f: src.XMLDesc(f))
for f in BITS:
    attempt(f"vol.infoFlags {f:#x}", lambda f=f: src.infoFlags(f))
st = conn.newStream(0)
for f in BITS:
    attempt(f"vol.upload {f:#x}", lambda f=f: (src.upload(conn.newStream(0), 0, 0, f)))
for f in BITS:
    attempt(f"vol.download {f:#x}", lambda f=f: (src.download(conn.newStream(0), 0, 0, f)))
for f in BITS:
    attempt(f"vol.delete raw {f:#x}", lambda f=f: src.delete(f))
q = pool.createXML("<volume><name>q</name><capacity>65536</capacity><target><format type='qcow2'/></target></volume>", 0)
for f in BITS:
    attempt(f"vol.delete qcow2 {f:#x}", lambda f=f: q.delete(f))
for f in BITS:
    attempt(f"pool.destroy? (only 0 exists) vol count", lambda: pool.numOfVolumes())
    break
for f in BITS:
    attempt(f"pool.setAutostart {f}", lambda f=f: pool.setAutostart(f))
for v in pool.listAllVolumes(0):
    v.delete(0)
pool.destroy()
for f in BITS:
    attempt(f"pool.delete {f:#x}", lambda f=f: pool.delete(f))
attempt("pool.undefine", lambda: pool.undefine())
for f in BITS:
    attempt(f"createXML transient {f:#x}", lambda f=f: (conn.storagePoolCreateXML(f"<pool type='dir'><name>advt</name><target><path>{d}</path></target></pool>", f).destroy()))
for f in BITS:
    attempt(f"defineXML {f:#x}", lambda f=f: (conn.storagePoolDefineXML(f"<pool type='dir'><name>advd</name><target><path>{d}</path></target></pool>", f).undefine()))
for f in BITS:
    attempt(f"listAllStoragePools {f:#x}", lambda f=f: len(conn.listAllStoragePools(f)))
for f in BITS:
    attempt(f"getStoragePoolCapabilities {f:#x}", lambda f=f: len(conn.getStoragePoolCapabilities(f)) > 0)
