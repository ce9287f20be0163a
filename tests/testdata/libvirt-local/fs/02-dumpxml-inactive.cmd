virsh pool-dumpxml --inactive fsext4
