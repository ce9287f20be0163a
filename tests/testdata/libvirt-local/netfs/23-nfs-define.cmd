virsh pool-define @WORK@/netnfs.xml
