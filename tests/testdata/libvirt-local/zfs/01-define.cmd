virsh pool-define @WORK@/zfspool.xml
