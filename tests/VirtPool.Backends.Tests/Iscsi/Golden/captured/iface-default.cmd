iscsiadm --mode iface
