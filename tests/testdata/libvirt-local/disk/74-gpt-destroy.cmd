virsh pool-destroy diskgpt
