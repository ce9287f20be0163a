virsh pool-define-as zfsas zfs --source-name ztank
