virsh pool-start rbdemptysecret
