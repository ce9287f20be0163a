virsh pool-start iscsiplain
