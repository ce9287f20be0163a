virsh secret-undefine @UUID@
