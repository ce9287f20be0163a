virsh pool-destroy zfsbuilt
