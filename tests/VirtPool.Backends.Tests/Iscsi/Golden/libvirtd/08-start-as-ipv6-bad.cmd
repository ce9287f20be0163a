virsh pool-create-as iscsi6 iscsi --source-host ::1 --source-dev iqn.2024-01.test.infra:disk1 --target /dev/disk/by-path
