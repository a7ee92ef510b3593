"""Nodes as booted machines: ``knet machines up|down|status``.

The Vagrant set-up (vagrant/) on one Linux box without KVM: a Debian bookworm root built once
with mmdebstrap (``image``), one ``systemd-nspawn --boot`` machine per node in network
namespaces of ours (``layout``, ``network``, ``nspawn``), provisioned by the Vagrantfile's own
scripts (``provision``), kubectl reaching the control plane through a loopback relay
(``relay``). Everything made is recorded in a state file first (``state``) and removed from it
by ``down``.
"""
