virsh pool-define-as fsbtrfs fs --source-dev /dev/@LOOP_FS1@ --source-format btrfs --target @WORK@/fs/btrfs
