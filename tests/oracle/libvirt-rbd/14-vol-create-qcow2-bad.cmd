virsh vol-create-as rbdpool volq 10M --format qcow2
