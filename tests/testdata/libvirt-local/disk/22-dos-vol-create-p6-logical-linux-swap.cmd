virsh vol-create-as diskdos @LOOP_DOS@p6 20M --format linux-swap
