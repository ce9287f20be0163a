virsh pool-delete diskgpt
