virsh secret-set-value @UUID@ --file @WORK@/libvirt.key
