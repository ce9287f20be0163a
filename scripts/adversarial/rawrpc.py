"""A minimal libvirt RPC client over a unix socket, for sending what python3-libvirt cannot
(embedded NUL, invalid UTF-8, truncated or oversized arguments)."""
import socket, struct

PROG, VERS = 0x20008086, 1

def xstr(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)

class Raw:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.serial = 0
        st, body = self.call(1, struct.pack(">I", 1) + xstr("qemu:///system") + struct.pack(">I", 0))  # CONNECT_OPEN
        assert st == 0, body

    def send(self, proc, payload):
        self.serial += 1
        hdr = struct.pack(">IIiiii", PROG, VERS, proc, 0, self.serial, 0)
        self.s.sendall(struct.pack(">I", 4 + len(hdr) + len(payload)) + hdr + payload)

    def recv(self):
        def exact(n):
            buf = b""
            while len(buf) < n:
                chunk = self.s.recv(n - len(buf))
                if not chunk:
                    raise EOFError("connection closed")
                buf += chunk
            return buf
        (length,) = struct.unpack(">I", exact(4))
        msg = exact(length - 4)
        prog, vers, proc, typ, serial, status = struct.unpack(">IIiiii", msg[:24])
        return status, msg[24:]

    def call(self, proc, payload):
        self.send(proc, payload)
        while True:
            st, body = self.recv()
            return st, body

def error_text(body):
    """remote_error: code, domain, message (optional string), ..."""
    code, domain, has = struct.unpack(">iiI", body[:12])
    msg = b""
    if has:
        (n,) = struct.unpack(">I", body[12:16])
        msg = body[16:16 + n]
    return code, domain, msg
