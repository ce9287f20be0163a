virsh pool-build diskmissing --overwrite
