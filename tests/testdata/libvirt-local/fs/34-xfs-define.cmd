virsh pool-define @WORK@/fsxfs.xml
