"""kproxy's userspace mode: a proxy process in the node, reached through REDIRECT rules."""
