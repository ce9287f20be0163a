virsh pool-start iscsichap
