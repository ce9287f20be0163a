virsh pool-undefine diskmissing
