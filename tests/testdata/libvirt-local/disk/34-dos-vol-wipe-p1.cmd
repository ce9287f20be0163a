virsh vol-wipe @LOOP_DOS@p1 --pool diskdos
