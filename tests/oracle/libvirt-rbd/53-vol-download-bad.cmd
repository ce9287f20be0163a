virsh vol-download vol2 @WORK@/download --pool rbdpool
