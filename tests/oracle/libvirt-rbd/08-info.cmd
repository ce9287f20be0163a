virsh pool-info rbdpool
