iscsiadm --mode node --portal 127.0.0.1:3260\,1 --targetname iqn.2024-01.test.infra:disk1 --op delete
