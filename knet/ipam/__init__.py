"""Host-local style IP address management.

``ranges`` (pure: a range and its round-robin order), ``allocator`` (policy: allocate, release,
gc over any store), ``store`` (the store Protocol and an in-memory store), ``disk_store`` (one
file per IP created with O_EXCL under an flock'd directory, like CNI host-local).
"""
