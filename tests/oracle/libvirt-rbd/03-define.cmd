virsh pool-define @WORK@/rbdpool.xml
