iscsiadm --mode node
