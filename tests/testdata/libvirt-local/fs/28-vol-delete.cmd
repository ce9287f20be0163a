virsh vol-delete raw2 --pool fsext4
