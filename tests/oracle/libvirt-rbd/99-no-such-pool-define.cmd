virsh pool-define @WORK@/rbdnopool.xml
