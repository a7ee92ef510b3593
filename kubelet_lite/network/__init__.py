"""The pod network: sandboxes (netns, veth, bridge, IPAM) with CNI add/check/del semantics.

conf.py           NetConf (how pods are networked), SandboxSpec and SandboxResult
pod_network.py    PodNetwork: add/check/delete, in-process and blocking
worker_pool.py    the kubelet's side: a few worker processes, one request each at a time
worker.py         a worker process: records the intent in the checkpoint, then acts
probe_sockets.py  sockets in the node's namespace, for probes
"""
