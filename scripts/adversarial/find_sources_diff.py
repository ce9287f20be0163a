#!/usr/bin/python3
"""Differential probe of virConnectFindStoragePoolSources: the same calls against libvirtd and
virtpoold, printing every case whose outcome (result or error code/domain/message) differs.
Usage: find_sources_diff.py LIBVIRTD_URI VIRTPOOLD_URI"""
import sys, libvirt

libvirt.registerErrorHandler(lambda *a: None, None)

def outcome(uri, ro, typ, spec, flags):
    conn = libvirt.openReadOnly(uri) if ro else libvirt.open(uri)
    try:
        r = conn.findStoragePoolSources(typ, spec, flags)
        return ("ok", r)
    except libvirt.libvirtError as e:
        return ("err", e.get_error_code(), e.get_error_domain(), e.get_error_message())
    except Exception as e:  # python-side refusal (e.g. embedded NUL)
        return ("py", type(e).__name__, str(e))
    finally:
        conn.close()

deep = "<source>" + "<a>" * 5000 + "</a>" * 5000 + "</source>"
cases = [
    (False, "", None, 0), (False, "x" * 100000, None, 0), (False, "dir", None, 0),
    (False, "Logical", None, 0), (False, "logical ", None, 0), (False, "lögical", None, 0),
    (False, "logical", None, 1), (False, "logical", None, 0x80000000), (False, "netfs", None, 0),
    (False, "netfs", "<source/>", 0), (False, "netfs", "garbage<", 0), (False, "netfs", "", 0),
    (False, "netfs", "<source><host name='127.0.0.1'/></source>", 1),
    (False, "iscsi", None, 0), (False, "iscsi", "<source/>", 0), (False, "iscsi", "<<", 0),
    (False, "iscsi-direct", None, 0), (False, "fs", None, 0), (False, "disk", None, 0),
    (False, "zfs", None, 0), (False, "gluster", None, 0), (False, "rbd", None, 0),
    (False, "scsi", None, 0), (False, "mpath", None, 0), (False, "sheepdog", None, 0),
    (False, "vstorage", None, 0), (False, "logical", "<<<not xml", 0), (False, "logical", deep, 0),
    (False, "netfs", deep, 0), (False, "netfs", "<source><host/></source>", 0),
    (False, "netfs", "<source><host name=''/></source>", 0),
    (False, "netfs", "<pool><source/></pool>", 0),
    (False, "netfs", "<source><format type='nfs'/></source>", 0),
    (True, "logical", None, 0), (True, "bogus", None, 0), (True, "dir", None, 0),
    (False, "logical", "<source/>", 0), (False, "gluster", "<source><host name='127.0.0.1'/></source>", 0),
    (False, "netfs", "<source><host name='127.0.0.1'/><format type='glusterfs'/></source>", 0),
]
diffs = 0
for ro, typ, spec, flags in cases:
    a = outcome(sys.argv[1], ro, typ, spec, flags)
    b = outcome(sys.argv[2], ro, typ, spec, flags)
    label = f"ro={ro} type={typ[:40]!r}{'...' if len(typ) > 40 else ''} spec={(spec or '')[:50]!r} flags={flags:#x}"
    if a != b:
        diffs += 1
        print("DIFF", label, "\n  libvirtd :", str(a)[:300], "\n  virtpoold:", str(b)[:300])
    else:
        print("same", label, str(a)[:120])
print(f"{diffs} differences")
