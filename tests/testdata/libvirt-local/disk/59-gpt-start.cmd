virsh pool-start diskgpt
