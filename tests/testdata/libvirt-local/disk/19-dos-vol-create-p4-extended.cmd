virsh vol-create-as diskdos @LOOP_DOS@p4 100M --format extended
