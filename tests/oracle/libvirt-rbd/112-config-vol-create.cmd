virsh vol-create-as rbdconfig volcfg 8M
