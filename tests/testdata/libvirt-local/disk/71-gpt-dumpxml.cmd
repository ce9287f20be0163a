virsh pool-dumpxml diskgpt
