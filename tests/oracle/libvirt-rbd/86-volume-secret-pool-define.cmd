virsh pool-define @WORK@/rbdvolsecret.xml
