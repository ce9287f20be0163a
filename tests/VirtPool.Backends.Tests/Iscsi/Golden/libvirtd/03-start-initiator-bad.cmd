virsh pool-start iscsiinit
