virsh pool-define-as netauto netfs --source-host 127.0.0.1 --source-path /export --target @WORK@/mnt/auto
