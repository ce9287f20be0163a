iscsiadm --mode iface --interface libvirt-iface-0badc0de --op delete
