virsh pool-define-as lvas logical --source-dev /dev/@LOOP_PV@ --source-name @VG@ --target /dev/@VG@
