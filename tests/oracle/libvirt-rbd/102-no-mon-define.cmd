virsh pool-define @WORK@/rbdnomon.xml
