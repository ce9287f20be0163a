virsh pool-refresh diskgpt
