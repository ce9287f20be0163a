virsh pool-define @WORK@/netgl.xml
