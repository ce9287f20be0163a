virsh vol-create-as diskdos4 @LOOP_DOS@p3 10M
