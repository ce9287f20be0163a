virsh vol-clone imported importedclone --pool rbdpool
