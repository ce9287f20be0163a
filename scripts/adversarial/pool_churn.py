#!/usr/bin/python3
"""Threads defining, starting, refreshing, destroying and undefining the same few pool names on one
daemon (and, in the shell loop beside it, the CLI on the daemon's state folder); prints every distinct
error. Usage: pool_churn.py URI POOL_ROOT ROUNDS"""
import sys, threading, collections, random, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
uri, root, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = collections.Counter(); lock = threading.Lock()
def work(seed):
    rnd = random.Random(seed); c = libvirt.open(uri)
    for _ in range(rounds):
        name = f"churn{rnd.randrange(3)}"; target = f"{root}/{name}-{rnd.randrange(2)}"
        op = rnd.choice(["define", "create", "start", "refresh", "destroy", "undefine", "vol", "transient"])
        try:
            if op == "define":
                c.storagePoolDefineXML(f"<pool type='dir'><name>{name}</name><target><path>{target}</path></target></pool>", 0)
            elif op == "transient":
                c.storagePoolCreateXML(f"<pool type='dir'><name>{name}</name><target><path>{target}</path></target></pool>", 1)
            else:
                p = c.storagePoolLookupByName(name)
                {"create": lambda: p.create(1), "start": lambda: p.create(0), "refresh": lambda: p.refresh(0),
                 "destroy": p.destroy, "undefine": p.undefine,
                 "vol": lambda: p.createXML("<volume><name>v</name><capacity>4096</capacity></volume>", 0).delete(0)}[op]()
            r = "ok"
        except libvirt.libvirtError as e:
            r = f"{e.get_error_code()} {e.get_error_message()}"
            for w in ("churn0", "churn1", "churn2", root):
                r = r.replace(w, "X")
        with lock:
            seen[(op, r)] += 1
    c.close()
ts = [threading.Thread(target=work, args=(i,)) for i in range(6)]
[t.start() for t in ts]; [t.join() for t in ts]
for (op, r), n in sorted(seen.items()):
    print(n, op, r[:200])
