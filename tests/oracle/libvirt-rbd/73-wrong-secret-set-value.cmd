virsh secret-set-value @UUID@ --file @WORK@/wrong.key
