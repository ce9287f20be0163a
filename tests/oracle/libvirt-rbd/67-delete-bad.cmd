virsh pool-delete rbdpool
