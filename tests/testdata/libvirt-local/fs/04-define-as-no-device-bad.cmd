virsh pool-define-as fsnodev fs --target @WORK@/fs/nodev
