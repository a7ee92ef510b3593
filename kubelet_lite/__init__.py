"""kubelet-lite: pod sandboxes (netns, veth, bridge, IPAM) and a process runtime."""
