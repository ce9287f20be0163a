virsh find-storage-pool-sources-as logical
