iscsiadm --mode iface --interface libvirt-iface-0badc0de --op update --name iface.initiatorname --value iqn.2024-01.test.infra:client1
