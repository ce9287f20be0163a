virsh pool-define-as rbdas rbd --source-host 127.0.0.1:3300 --source-name rbd --auth-type ceph --auth-username libvirt --secret-usage client.libvirt\ secret
