virsh pool-define @WORK@/rbdnoauth.xml
