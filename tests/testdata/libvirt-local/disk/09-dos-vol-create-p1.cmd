virsh vol-create-as diskdos @LOOP_DOS@p1 10M
