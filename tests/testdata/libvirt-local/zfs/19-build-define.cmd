virsh pool-define @WORK@/zfsbuilt.xml
