virsh pool-define @WORK@/fswrong.xml
