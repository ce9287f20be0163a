virsh pool-start netauto
