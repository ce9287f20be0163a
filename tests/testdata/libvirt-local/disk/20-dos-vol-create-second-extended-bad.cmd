virsh vol-create-as diskdos @LOOP_DOS@p5 10M --format extended
