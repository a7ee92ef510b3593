"""iptables mode: kube-proxy's iptables rule layout, rendered and restored in one transaction.

``proxier`` (the provider and its sync loop), ``writer`` (render and restore, blocking),
``rulecache`` (per-service rendered fragments), ``render`` (the pure renderer), ``categorize``
(which endpoints a chain uses), ``model`` (the rule set and its restore text), ``mode`` (its
entry in the mode registry).
"""
