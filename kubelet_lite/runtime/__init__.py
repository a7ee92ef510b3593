"""The process runtime: each container is a process in the pod's network namespace and in its
own UTS namespace (hostname = pod name), started by a fork server (``zygote``) so that a start
costs a fork, not an interpreter start-up.

Modules: ``procfs`` (reading /proc), ``launch`` (what a freshly forked child does before it
becomes the container), ``zygote`` (the fork server process), ``images`` (image name → what to
run), ``process`` (the kubelet's side: spawn, watch, signal, adopt), ``images/*`` (the built-in
programs). Everything the zygote imports is standard library only, to keep it small and quick.
"""
