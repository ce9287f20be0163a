virsh pool-build diskgpt --no-overwrite
