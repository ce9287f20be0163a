iscsiadm --mode session -r 1 -R
