virsh find-storage-pool-sources netfs @WORK@/netglspec.xml
