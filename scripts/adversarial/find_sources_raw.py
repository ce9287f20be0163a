#!/usr/bin/python3
"""Raw procedure-75 calls (type with NUL, invalid UTF-8, truncated args) against both daemons.
Usage: find_sources_raw.py LIBVIRTD_SOCKET VIRTPOOLD_SOCKET"""
import sys, struct
sys.path.insert(0, __import__("os").path.dirname(__file__))
from rawrpc import Raw, xstr, error_text

cases = {
    "type dir\\0junk": xstr(b"dir\0junk") + struct.pack(">II", 0, 0),
    "type logical\\0x": xstr(b"logical\0x") + struct.pack(">II", 0, 0),
    "type \\xff\\xfe": xstr(b"\xff\xfe") + struct.pack(">II", 0, 0),
    "spec with NUL, netfs": xstr(b"netfs") + struct.pack(">I", 1) + xstr(b"<source/>\0<x") + struct.pack(">I", 0),
    "truncated (no flags)": xstr(b"logical") + struct.pack(">I", 0),
    "extra trailing bytes": xstr(b"logical") + struct.pack(">II", 0, 0) + b"\0\0\0\0",
    "bool discriminant 2": xstr(b"logical") + struct.pack(">II", 2, 0),
    "string length 0xffffffff": struct.pack(">I", 0xffffffff),
    "type len 5MB": xstr(b"a" * (5 * 1024 * 1024)) + struct.pack(">II", 0, 0),
}
for name, payload in cases.items():
    out = []
    for path in sys.argv[1:3]:
        try:
            r = Raw(path)
            st, body = r.call(75, payload)
            out.append(("ok", body[:200]) if st == 0 else ("err",) + error_text(body))
        except Exception as e:
            out.append(("exc", repr(e)[:200]))
    tag = "same" if out[0] == out[1] else "DIFF"
    print(tag, name, "\n  libvirtd :", out[0], "\n  virtpoold:", out[1])
