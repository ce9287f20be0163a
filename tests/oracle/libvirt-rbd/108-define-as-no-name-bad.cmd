virsh pool-define-as rbdasbad rbd --source-host 127.0.0.1
