virsh pool-build netgl
