virsh vol-create-as diskdos4 @LOOP_DOS@p4 10M
