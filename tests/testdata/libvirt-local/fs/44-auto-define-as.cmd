virsh pool-define-as fsauto fs --source-dev /dev/@LOOP_FS2@ --source-format auto --target @WORK@/fs/auto
