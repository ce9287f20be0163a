virsh find-storage-pool-sources-as iscsi 127.0.0.1
