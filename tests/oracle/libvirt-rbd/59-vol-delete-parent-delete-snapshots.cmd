virsh vol-delete vol1 --pool rbdpool --delete-snapshots
