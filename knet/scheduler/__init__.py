"""`knet scheduler`: puts pods on nodes.

Filters and scores are pure functions over a pod and a node's aggregate (`NodeInfo`: the node
and the pods on it); `scheduler.py` keeps those aggregates current from informers, runs one
scheduling cycle per pod, binds through pods/binding and records Events.
"""
