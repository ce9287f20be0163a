virsh pool-define @WORK@/zfsmissing.xml
