virsh pool-undefine rbdvolsecret
