virsh pool-undefine netglbadvol
