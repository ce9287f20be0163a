virsh pool-define @WORK@/fsbusy.xml
