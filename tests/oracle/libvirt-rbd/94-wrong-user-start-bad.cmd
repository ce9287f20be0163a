virsh pool-start rbdwronguser
