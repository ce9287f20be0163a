virsh vol-resize @LOOP_DOS@p1 20M --pool diskdos
