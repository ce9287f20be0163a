virsh pool-define @WORK@/rbdnosecret.xml
