virsh pool-undefine rbdwronguser
