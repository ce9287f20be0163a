virsh pool-define @WORK@/rbdconfig.xml
