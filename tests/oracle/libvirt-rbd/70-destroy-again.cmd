virsh pool-destroy rbdpool
