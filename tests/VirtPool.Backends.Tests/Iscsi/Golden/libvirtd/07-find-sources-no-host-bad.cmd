virsh find-storage-pool-sources iscsi
