"""The process runtime: each container is a process in the namespaces of its pod's pause
process (network, IPC, UTS: hostname = pod name), in a PID and a mount namespace of its own
and in its own cgroups, started by a fork server (``zygote``) so that a start costs a fork,
not an interpreter start-up.

Modules: ``procfs`` (reading /proc), ``launch`` (what a freshly forked child does before it
becomes the container), ``zygote`` (the fork server process), ``images`` (image name → what to
run), ``process`` (the kubelet's side: spawn, watch, signal, adopt), ``images/*`` (the built-in
programs), ``pause`` (the pod's pause program), ``logs`` and ``log_server`` (CRI logs); what
the child sets up, each its own step: ``namespaces`` (join pause's; the PID namespace the
zygote forks the container into), ``mounts`` (the container's mount namespace), ``cgroups``
(the v1/v2 drivers; the kubelet makes the groups, the child joins them) and ``security``
(uid/gid, capabilities, no_new_privs). Everything the zygote imports is standard library only,
to keep it small and quick (``cgroups``, which only the kubelet imports, reads quantities with
knet's parser).
"""
