virsh pool-info diskgpt
