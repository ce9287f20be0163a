iscsiadm --mode discovery --type sendtargets --portal 127.0.0.1:3260\,1 --interface libvirt-iface-0badc0de
