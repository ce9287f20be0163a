virsh pool-define @WORK@/rbdemptysecret.xml
