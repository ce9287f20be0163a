virsh pool-build netglbadvol
