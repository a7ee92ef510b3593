"""Pods on this node: a worker per pod drives its sync, one step at a time.

pod_workers.py     one task per pod; updates coalesce; steps for one pod never interleave
sync.py            PodSync: one pod's life (adopt, sync, terminate), using the modules below
plan.py            what to start, restart or kill (pure), with backoff.py's CrashLoopBackOff
container_spec.py  what a container's spec means: env, command, hash, ids (pure)
probes.py          startup/liveness/readiness probes
"""
