virsh secret-define @WORK@/volume-secret.xml
