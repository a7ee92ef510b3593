"""What kubelet-lite knows about its pods and tells the API server.

pod_status.py  building a pod's status (pure: no I/O, time passed in)
writer.py      StatusManager: writes statuses to the API server, only changes, newest only
checkpoint.py  the on-disk records per pod (checkpoint, run records, logs), for restarts
"""
