virsh pool-define @WORK@/lvbyname.xml
