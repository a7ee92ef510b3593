"""Pods on this node: a worker per pod drives its sync, one step at a time.

pod_workers.py     one task per pod; updates coalesce; steps for one pod never interleave
sync.py            PodSync: one pod's life (adopt, sync, terminate, report)
sandbox.py         PodSandbox: the pod's network sandbox, made through network/worker_pool.py
pause.py           PodPause: the pod's pause process, holding its net/IPC/UTS (and shared PID)
pod_files.py       PodFiles: the kubelet-written /etc files and emptyDirs in the pod's directory
etc_files.py       resolv.conf per dnsPolicy, hosts, hostname, in the kubelet's format (pure)
mount_plan.py      what a container's mount namespace holds: /etc files, volumes (pure)
security_context.py  securityContext as the runtime applies it; fields not carried out (pure)
containers.py      PodContainers: starting, watching, killing and adopting container runs
container_run.py   ContainerRun: where one container stands, and how its last run ended
container_spec.py  what a container's spec means: env, command, hash, ids (pure)
status_view.py     the containers as the pod's status shows them (pure)
plan.py            what to start, restart or kill (pure), with backoff.py's CrashLoopBackOff
probes.py          startup/liveness/readiness probes
deps.py            Deps: the node's services every pod's sync shares
"""
