virsh vol-create-as diskdos @LOOP_DOS@p3 30M
