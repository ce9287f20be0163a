virsh pool-build rbdpool
