virsh pool-define-as fsext4 fs --source-dev /dev/@LOOP_FS1@ --source-format ext4 --target @WORK@/fs/ext4
