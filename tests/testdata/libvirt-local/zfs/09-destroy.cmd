virsh pool-destroy zfspool
