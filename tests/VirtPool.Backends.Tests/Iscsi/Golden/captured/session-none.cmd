iscsiadm --mode session
