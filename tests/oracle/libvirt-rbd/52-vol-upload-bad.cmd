virsh vol-upload vol2 @WORK@/upload1m --pool rbdpool
