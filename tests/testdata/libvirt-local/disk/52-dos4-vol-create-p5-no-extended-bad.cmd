virsh vol-create-as diskdos4 @LOOP_DOS@p5 10M
