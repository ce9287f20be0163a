virsh vol-dumpxml @LOOP_DOS@p1 --pool diskdos
