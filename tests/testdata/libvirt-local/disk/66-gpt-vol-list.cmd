virsh vol-list diskgpt --details
