virsh pool-start netglbadvol
