virsh vol-dumpxml @LOOP_DOS@p4 --pool diskdos
