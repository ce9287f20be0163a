virsh vol-create-as diskdos part2 20M
