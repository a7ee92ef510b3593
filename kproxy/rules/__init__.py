"""iptables vocabulary shared by every mode that programs iptables (iptables and userspace), the
backends and --cleanup: chain names, the jump rules, iptables-save parsing, a packet tracer.
iptables mode's own rendering lives in ``kproxy.iptables``."""
