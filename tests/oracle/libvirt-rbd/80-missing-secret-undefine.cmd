virsh pool-undefine rbdnosecret
