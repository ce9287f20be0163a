virsh vol-create rbdpool @WORK@/volxml.xml
