virsh vol-dumpxml @LOOP_DOS@p5 --pool diskdos
