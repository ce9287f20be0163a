virsh pool-define @WORK@/fsmissing.xml
