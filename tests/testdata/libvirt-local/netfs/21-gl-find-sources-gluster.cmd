virsh find-storage-pool-sources-as gluster 127.0.0.1
