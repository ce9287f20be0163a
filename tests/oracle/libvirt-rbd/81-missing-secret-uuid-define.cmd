virsh pool-define @WORK@/rbdnouuid.xml
