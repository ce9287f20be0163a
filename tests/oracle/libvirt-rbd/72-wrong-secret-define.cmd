virsh secret-define @WORK@/wrong-secret.xml
