virsh vol-list netgl --details
