virsh pool-refresh rbdpool
