#!/usr/bin/python3
"""Data correctness of sparse upload/download on a block device through virsh and virtpoold: a dir
pool holding a node of a loop device of odd size (1 MiB + 512) filled with 0xAA; uploads of a sparse
file at unaligned offsets (its hole must become zeroes, never old data), a sparse download compared
byte for byte. Usage: device_node_sparse.py VIRTPOOLD_URI WORKDIR [SECTOR_SIZE] (cleans up)"""
import os, subprocess, sys, hashlib, shutil
uri, work = sys.argv[1], sys.argv[2]
os.makedirs(work + "/pool", exist_ok=True)
SECTOR = int(sys.argv[3]) if len(sys.argv) > 3 else 512
SIZE = 1024 * 1024 + SECTOR
img = work + "/dev.img"
with open(img, "wb") as f:
    f.write(b"\xaa" * SIZE)
dev = subprocess.check_output(["losetup", "-b", str(SECTOR), "-f", "--show", img], text=True).strip()
def virsh(*a):
    r = subprocess.run(["virsh", "-c", uri, *a], capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()
failures = 0
try:
    st = os.stat(dev)
    os.mknod(work + "/pool/node", 0o600 | 0o060000, st.st_rdev)
    assert virsh("pool-create-as", "advsparse", "dir", "--target", work + "/pool")[0] == 0
    src = work + "/src.bin"
    data1, data2 = os.urandom(8192), os.urandom(3000)
    with open(src, "wb") as f:
        f.write(data1); f.seek(8192 + 65536); f.write(data2)
    srclen = 8192 + 65536 + 3000
    for offset in (1000, 0, 511, SIZE - srclen, 4096 + 7):
        with open(dev, "r+b") as d:
            d.write(b"\xaa" * SIZE)
        rc, out = virsh("vol-upload", "node", src, "--pool", "advsparse", "--offset", str(offset), "--sparse")
        with open(dev, "rb") as d:
            got = d.read()
        want = bytearray(b"\xaa" * SIZE)
        want[offset:offset + srclen] = data1 + b"\0" * 65536 + data2
        ok = rc == 0 and got == bytes(want)
        if not ok:
            failures += 1
            first = next((i for i in range(SIZE) if got[i] != want[i]), None)
            print(f"FAIL upload --sparse --offset {offset}: rc={rc} {out!r} first differing byte {first}")
        else:
            print(f"ok   upload --sparse --offset {offset}")
        out_path = work + "/dl.bin"
        for extra in ([], ["--sparse"]):
            if os.path.exists(out_path):
                os.unlink(out_path)
            rc, out = virsh("vol-download", "node", out_path, "--pool", "advsparse", *extra)
            dl = open(out_path, "rb").read() if os.path.exists(out_path) else b""
            if rc != 0 or dl != got:
                failures += 1
                print(f"FAIL download {extra}: rc={rc} {out!r} len={len(dl)}")
            else:
                print(f"ok   download {extra}")
finally:
    virsh("pool-destroy", "advsparse")
    subprocess.run(["losetup", "-d", dev])
    shutil.rmtree(work)
print(f"{failures} failures")
