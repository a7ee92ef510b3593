"""kubelet-lite: pod sandboxes (netns, veth, bridge, IPAM) and a process runtime.

__main__.py, config.py   the command and its flags
agent.py                 Kubelet: everything wired together, in start-up order
node.py                  the Node object and its Lease heartbeat
(Events about pods go through knet.client.recorder, shared with the controllers)
gc.py                    start-up clean-up of pods that no longer exist, by their records
failpoints.py            crash points for the restart tests
pods/                    per-pod workers and each pod's sync (sandbox, containers, status)
network/                 the pod network: add/check/del, its worker processes, probe sockets
runtime/                 the process runtime (zygote) and built-in images
status/                  pod status, the status writer, the on-disk checkpoints
"""
