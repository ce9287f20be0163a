virsh pool-define @WORK@/netglbadvol.xml
