virsh vol-create-as diskdos4 @LOOP_DOS@p2 10M
