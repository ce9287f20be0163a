virsh vol-delete volcfg --pool rbdconfig
