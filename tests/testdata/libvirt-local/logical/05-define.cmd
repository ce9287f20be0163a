virsh pool-define @WORK@/lvpool.xml
