"""The rule-scaling lab: how kproxy's iptables rules scale with Services and endpoints.

``python -m kproxy.lab`` (or ``knet bench rules``) builds scratch network namespaces, loads a
synthetic cluster's rules through kproxy's proxier with each backend, times the full and
partial syncs against iptables-restore alone, times one ``iptables -A`` at each size, measures
TCP connect latency through the first and last programmed Service in iptables mode and in
userspace mode, and writes JSON rows, a markdown table and PNG plots. See docs/rule-scaling.md.
"""
