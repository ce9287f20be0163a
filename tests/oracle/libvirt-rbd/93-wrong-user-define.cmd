virsh pool-define @WORK@/rbdwronguser.xml
