virsh pool-start rbdnosecret
