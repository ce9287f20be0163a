virsh secret-define @WORK@/empty-secret.xml
