virsh pool-start diskmissing
