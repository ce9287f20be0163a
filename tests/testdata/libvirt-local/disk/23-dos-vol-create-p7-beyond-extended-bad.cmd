virsh vol-create-as diskdos @LOOP_DOS@p7 80M
