virsh pool-build diskgpt --overwrite
