virsh find-storage-pool-sources logical
