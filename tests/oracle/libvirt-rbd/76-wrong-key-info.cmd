virsh pool-info rbdwrongkey
