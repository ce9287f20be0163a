virsh secret-define @WORK@/ceph-secret.xml
