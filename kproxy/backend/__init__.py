"""Ways to apply rules to the kernel (iptables-restore, python-iptables) and a strict fake."""
