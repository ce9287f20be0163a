virsh vol-path vol1 --pool rbdpool
