iscsiadm --mode node --portal 127.0.0.1:3260\,1 --target iqn.2024-01.test.infra:disk1 --op update --name node.session.auth.authmethod --value CHAP
