virsh pool-build netauto
