virsh vol-create-as diskdos4 @LOOP_DOS@p1 10M
