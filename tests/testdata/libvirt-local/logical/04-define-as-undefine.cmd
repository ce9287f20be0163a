virsh pool-undefine lvas
