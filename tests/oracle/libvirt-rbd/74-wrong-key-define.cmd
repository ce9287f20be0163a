virsh pool-define @WORK@/rbdwrongkey.xml
