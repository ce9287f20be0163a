virsh pool-define-as netcifs netfs --source-host 127.0.0.1 --source-path share --source-format cifs --target @WORK@/mnt/cifs
