virsh pool-define @WORK@/diskgpt.xml
