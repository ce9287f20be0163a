virsh pool-start rbdvolsecret
