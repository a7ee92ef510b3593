"""Netlink primitives for node networking: the only package that talks to the kernel's
networking (rtnetlink, namespaces, net.* sysctls), without shelling out.

Modules: ``rtnl`` (our rtnetlink request/reply loop; messages are pyroute2's classes),
``session`` (a netlink socket bound to a named namespace), ``netns`` (create/remove/list
named namespaces under /run/netns), ``links`` (bridges, veth pairs, bridge ports, hairpin),
``addrs``, ``routes``, ``sysctl`` (per-namespace net.* sysctls), ``names`` (hashed names that fit
IFNAMSIZ), ``exec`` (argv to run a command in a namespace), ``nsthread`` (how a socket gets into
a namespace), ``errors``. The namespace is always an argument: the long-lived process and its
threads never switch namespace. All calls block.
"""
