virsh find-storage-pool-sources-as netfs 127.0.0.1
