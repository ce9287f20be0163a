virsh pool-undefine diskgpt
