virsh vol-info @LOOP_DOS@p1 --pool diskdos
