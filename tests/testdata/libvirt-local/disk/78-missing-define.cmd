virsh pool-define @WORK@/diskmissing.xml
