virsh vol-delete @LOOP_DOS@p2 --pool diskdos
