virsh pool-undefine rbdemptysecret
