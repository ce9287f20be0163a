virsh vol-dumpxml @LOOP_DOS@p6 --pool diskdos
