virsh pool-define-as fsvfat fs --source-dev /dev/@LOOP_FS2@ --source-format vfat --target @WORK@/fs/vfat
