#!/usr/bin/python3
"""Drives an iscsi-direct pool through python3-libvirt: create, info, the LUN volumes (info, key, path,
lookup by key), refresh, wipe, and what iscsi-direct refuses; one line per step so runs against
libvirtd and virtpoold can be compared.
Usage: iscsi_direct_steps.py URI TARGET_IQN INITIATOR_IQN POOL_UUID"""
import sys, libvirt
uri, iqn, initiator, uuid = sys.argv[1:5]
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
conn = libvirt.open(uri)
def step(what, call):
    try:
        print(what, call())
    except libvirt.libvirtError as e:
        print(what, "error", e.get_error_code(), e.get_error_domain(), e.get_error_message())
pool = conn.storagePoolCreateXML(
    f"<pool type='iscsi-direct'><name>pyidd</name><uuid>{uuid}</uuid><source><host name='127.0.0.1'/>"
    f"<device path='{iqn}'/><initiator><iqn name='{initiator}'/></initiator></source></pool>", 0)
step("info", lambda: pool.info()[0])
step("volumes", lambda: sorted(v.name() for v in pool.listAllVolumes(0)))
for name in ("unit:0:0:0", "unit:0:0:1", "unit:0:0:2"):
    vol = pool.storageVolLookupByName(name)
    step(name + " info", lambda: vol.info()[0])
    step(name + " key", vol.key)
    step(name + " path", vol.path)
    step(name + " by key", lambda: conn.storageVolLookupByKey(vol.key()).name())
step("refresh", lambda: pool.refresh(0))
step("wipe", lambda: pool.storageVolLookupByName("unit:0:0:2").wipe(0))
step("wipe pattern 3", lambda: pool.storageVolLookupByName("unit:0:0:2").wipePattern(3, 0))
step("create", lambda: pool.createXML("<volume><name>x</name><capacity>1048576</capacity></volume>", 0))
step("vol delete", lambda: pool.storageVolLookupByName("unit:0:0:1").delete(0))
step("destroy", lambda: pool.destroy())
