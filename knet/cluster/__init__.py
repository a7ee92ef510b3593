"""The local multi-node cluster: every node a network namespace on one machine.

Modules: ``topology`` (pure: names, addresses and CIDRs from a cluster name and a node count),
``state`` (what a cluster made, recorded on disk before it is made), ``procs`` (processes by pid
and start time, and by network namespace), ``node_bootstrap`` (per-node set-up and the agents'
command lines, shared with the Vagrant VMs), ``hostgw`` (the per-node route agent), ``up``,
``down``, ``status``, ``exec`` and ``cli`` (the ``knet cluster`` / ``knet exec`` commands).
"""
